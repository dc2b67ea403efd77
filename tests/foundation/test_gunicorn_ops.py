"""The operations layer under the real server (issue 13): metrics summed over gunicorn's
workers, one log line per request, hot reload under load with no failed request."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from nlpsvc.cli import main as cli
from tests.foundation.test_gunicorn import ROOT
from tests.serving import free_port, stop, wait_ready

TOKEN = "ops-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Server:
    def __init__(self, base: str, proc: subprocess.Popen, models: Path, log: Path) -> None:
        self.base, self.proc, self.models, self.log = base, proc, models, log

    def score(self, text: str = "the queen said") -> requests.Response:
        return requests.post(f"{self.base}/score", json={"text": text}, headers=AUTH, timeout=10)

    def metric(self, line_start: str) -> float:
        """The value of the first exposed sample whose line starts with ``line_start``."""
        for line in requests.get(f"{self.base}/metrics", timeout=10).text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def log_lines(self) -> list[dict]:
        return [json.loads(x) for x in self.log.read_text().splitlines() if x.startswith("{")]


@pytest.fixture(scope="module")
def ops(models_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``nlpsvc serve`` (2 workers, tokens from the environment, reload every 0.5 s) over a
    private copy of the mini models."""
    tmp = tmp_path_factory.mktemp("ops")
    models = Path(shutil.copytree(models_root, tmp / "models"))
    port = free_port()
    log = tmp / "requests.log"
    env = {**os.environ, "NLPSVC_API_TOKENS": TOKEN, "NLPSVC_REQUEST_LOG": str(log)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nlpsvc.cli", "serve", "--models", str(models), "--port",
         str(port), "--workers", "2", "--reload-interval", "0.5"],
        cwd=ROOT, env=env, stdout=open(tmp / "server.out", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, 60, (tmp / "server.out").read_text)
        yield Server(base, proc, models, log)
    finally:
        stop(proc)


def test_metrics_count_every_worker(ops: Server) -> None:
    key = 'nlpsvc_http_requests_total{endpoint="/score",method="POST",status="200"}'
    texts_key = 'nlpsvc_texts_total{endpoint="/score"}'
    before, texts_before = ops.metric(key), ops.metric(texts_key)
    texts = [f"the queen said to alice {i}" for i in range(300)]  # a few ms each

    def batch(i: int) -> requests.Response:
        return requests.post(f"{ops.base}/score", json={"texts": texts}, headers=AUTH,
                             timeout=10)

    answers: list[requests.Response] = []
    workers: set[str] = set()
    with ThreadPoolExecutor(8) as pool:
        while len(workers) < 2:  # until both workers have answered some
            assert len(answers) < 400, "one worker answered everything"
            got = list(pool.map(batch, range(16)))
            answers += got
            workers |= {a.headers["X-Request-ID"].rsplit("-", 1)[0] for a in got}
    assert all(a.status_code == 200 for a in answers)
    sent = len(answers)
    deadline = time.monotonic() + 5  # tallies reach the shared files within ~0.5 s
    while ops.metric(key) - before != sent:
        assert time.monotonic() < deadline, (ops.metric(key), before, sent)
        time.sleep(0.2)
    assert ops.metric(texts_key) - texts_before == sent * len(texts)
    assert ops.metric("nlpsvc_http_request_duration_seconds_count") > 0
    assert ops.metric("nlpsvc_model_info{") == 1.0
    assert requests.post(f"{ops.base}/score", json={"text": "x"}, timeout=10).status_code == 401


def test_one_log_line_per_request(ops: Server) -> None:
    resp = ops.score("a sentence nobody should see in a log")
    rid = resp.headers["X-Request-ID"]
    deadline = time.monotonic() + 5
    while not (mine := [e for e in ops.log_lines() if e["request_id"] == rid]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    (entry,) = mine
    assert entry["status"] == 200 and entry["endpoint"] == "/score" and entry["texts"] == 1
    assert entry["version"] == resp.json()["version"] and entry["model"] == "mini"
    assert "nobody" not in ops.log.read_text()
    given = requests.get(f"{ops.base}/health", headers={"X-Request-ID": "my-trace-1"}, timeout=10)
    assert given.headers["X-Request-ID"] == "my-trace-1"


def test_hot_reload_under_load(ops: Server, mini_corpus: Path) -> None:
    """A publish is served within 10 s; no request fails or stalls meanwhile."""
    old = ops.score().json()["version"]
    stop = threading.Event()
    failures: list[str] = []
    latencies: list[float] = []
    versions: set[str] = set()

    def hammer() -> None:
        session = requests.Session()
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                r = session.post(f"{ops.base}/score", json={"text": "the queen said"},
                                 headers=AUTH, timeout=10)
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:100]}")
                else:
                    versions.add(r.json()["version"])
            except requests.RequestException as e:
                failures.append(repr(e))
            latencies.append(time.monotonic() - t0)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        assert cli(["train", str(mini_corpus), "--only", "ngram", "--out", str(ops.models),
                    "-q"]) == 0
        published = time.monotonic()
        new = (ops.models / "mini" / "ngram" / "CURRENT").read_text().strip()
        assert new != old
        while ops.score().json()["version"] != new:
            assert time.monotonic() - published < 10, "not serving the new version in 10 s"
            time.sleep(0.1)
        served_after = time.monotonic() - published
        time.sleep(1.5)  # both workers: every later request gets the new version
        seen_new = {r.json()["version"] for r in (ops.score() for _ in range(10))}
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert seen_new == {new}
    assert versions == {old, new}
    assert len(latencies) > 50 and max(latencies) < 2.0, max(latencies)
    print(f"publish to serving: {served_after:.2f} s; {len(latencies)} requests during the "
          f"reload, none failed, slowest {max(latencies) * 1000:.0f} ms")
    metrics = requests.get(f"{ops.base}/metrics", timeout=10).text
    assert f'version="{new}"}} 1.0' in metrics and f'version="{old}"}} 0.0' in metrics


def test_sighup_restarts_workers_gracefully(ops: Server) -> None:
    """gunicorn's own reload (SIGHUP to the master): new workers, no failed request."""
    before = {r.headers["X-Request-ID"].rsplit("-", 1)[0]
              for r in (ops.score() for _ in range(20))}
    os.kill(ops.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 30
    prefixes: set[str] = set()
    while not (prefixes - before):
        r = ops.score()
        assert r.status_code == 200, r.text
        prefixes.add(r.headers["X-Request-ID"].rsplit("-", 1)[0])
        assert time.monotonic() < deadline, "no new worker after SIGHUP"
        time.sleep(0.05)
