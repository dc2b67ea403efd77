"""``/score`` under gunicorn against a bare Flask JSON echo, same settings, same run (SPEC §6).

Load: ``wrk`` (Debian package) with a POST script, one connection pool, fixed duration;
single-sentence requests. The two servers are measured alternately (echo, score, echo, score)
so that drift on a shared machine hits both. Also: ``make run`` wall time to a ready service
(demo corpus, .venv already installed; training every model is most of it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.report import publish, table

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# The service's defaults (nlpsvc serve / make serve): one sync worker per core; env overrides
# compare other settings (both apps always run with the same ones).
WORKERS = int(os.environ.get("BENCH_WORKERS", os.cpu_count() or 2))
THREADS = int(os.environ.get("BENCH_THREADS", 1))
CONNECTIONS, DURATION_S = 8, 15
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))  # alternating echo/score rounds: drift hits both
SENTENCE = "Alice was beginning to get very tired of sitting by her sister on the bank"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 600) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return time.monotonic() - t0
        except requests.RequestException:  # not listening yet, or busy loading
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready in {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def worker_class() -> str:
    """The worker class ``nlpsvc serve`` picks for THREADS (both apps run with it)."""
    from nlpsvc.service.server import SLOW_CLIENT_SAFE_WORKER

    return "gthread" if THREADS > 1 else SLOW_CLIENT_SAFE_WORKER


def gunicorn(target: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    cmd = [PY, "-m", "gunicorn", "-w", str(WORKERS), "--threads", str(THREADS),
           "-k", worker_class(), "-b", f"127.0.0.1:{port}", "--log-level", "warning", target]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def nlpsvc_serve(models: Path, port: int, env: dict[str, str] | None = None,
                 ) -> subprocess.Popen:
    """The real service as users start it (its worker class, metrics, request log, reload);
    ``env`` adds settings (``NLPSVC_API_TOKENS``, ``NLPSVC_METRICS``...: bench/service_ops)."""
    cmd = [PY, "-m", "nlpsvc.cli", "serve", "--models", str(models), "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(WORKERS), "--threads", str(THREADS)]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})},
                            start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wrk(url: str, body: dict, seconds: int, headers: dict[str, str] | None = None,
        ) -> dict[str, float]:
    """``wrk`` POSTing ``body`` (plus ``headers``, e.g. a Bearer token) for ``seconds``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = {json.dumps(json.dumps(body))}\n")
        for name, value in (headers or {}).items():
            f.write(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n")
        script = f.name
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", script, url],
            capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script)
    return parse_wrk(out)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def parse_wrk(out: str) -> dict[str, float]:
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    def ms(s: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
        assert m, s
        return _ms(m.group(1), m.group(2))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50_ms": ms(lat["50"]), "p99_ms": ms(lat["99"]),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
    }


SERVERS = {"echo": "/echo", "score": "/score"}


def bench_throughput(models: Path) -> dict[str, list[dict]]:
    """wrk figures of each round, per server (echo and score alternating)."""
    body = {"text": SENTENCE}
    runs: dict[str, list[dict]] = {name: [] for name in SERVERS}
    for _ in range(ROUNDS):
        for name, path in SERVERS.items():
            port = free_port()
            if name == "echo":
                proc = gunicorn("bench.echo_app:create_app()", port, {})
            else:
                proc = nlpsvc_serve(models, port)
            try:
                if name == "echo":
                    _wait_echo(port, proc)
                else:
                    wait_ready(f"http://127.0.0.1:{port}/ready", proc)
                r = requests.post(f"http://127.0.0.1:{port}{path}", json=body, timeout=10)
                assert r.status_code == 200, r.text
                wrk(f"http://127.0.0.1:{port}{path}", body, 2)  # warm-up
                runs[name].append(wrk(f"http://127.0.0.1:{port}{path}", body, DURATION_S))
            finally:
                stop(proc)
    return runs


def throughput_table(runs: dict[str, list[dict]]) -> str:
    rows, rps = [], {}
    for name, rs in runs.items():
        rps[name] = statistics.mean(r["rps"] for r in rs)
        rows.append([f"`{SERVERS[name]}`", f"{rps[name]:,.0f}",
                     " / ".join(f"{r['rps']:,.0f}" for r in rs),
                     f"{statistics.median(r['p50_ms'] for r in rs):.2f}",
                     f"{statistics.median(r['p99_ms'] for r in rs):.2f}",
                     sum(r["requests"] for r in rs), sum(r["non2xx"] for r in rs),
                     sum(r["socket_errors"] for r in rs)])
    text = table(["endpoint", "req/s (mean)", "req/s per round", "p50 ms", "p99 ms", "requests",
                  "non-2xx", "socket errors"], rows)
    return text + (f"\n\n`/score` throughput = **{rps['score'] / rps['echo']:.1%}** of the bare "
                   f"echo's (goal ≥ 80%); non-2xx under load: "
                   f"{sum(r['non2xx'] for r in runs['score'])}.")


def _wait_echo(port: int, proc: subprocess.Popen) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        if proc.poll() is not None:
            raise RuntimeError("echo server exited")
        try:
            requests.post(f"http://127.0.0.1:{port}/echo", json={}, timeout=2)
            return time.monotonic() - t0
        except requests.RequestException:  # not listening yet, or busy loading
            time.sleep(0.2)
    raise RuntimeError("echo server not ready")


def bench_make_run(tmp: Path) -> float:
    """Seconds from ``make run`` to a 200 from /ready, models trained from scratch."""
    port = free_port()
    t0 = time.monotonic()
    proc = subprocess.Popen(["make", "run", f"models={tmp / 'models'}", f"port={port}"],
                            cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", proc, timeout=900)
        return time.monotonic() - t0
    finally:
        stop(proc)


def render(results: dict[str, Any]) -> str:
    """The section from the stored results (``publish`` and ``--render``)."""
    c = results["settings"]
    body = (
        f"`/score`: `nlpsvc serve --workers {c['workers']} --threads {c['threads']}` (its "
        f"defaults on this machine: worker class `{c['worker_class']}`, Prometheus metrics, "
        "JSON request log, hot-reload polling); the echo: gunicorn with the same workers, "
        "threads and worker class, and the service's JSON provider; load: "
        f"`wrk -t1 -c{c['connections']} -d{c['duration_s']}s --latency`, one-sentence JSON body "
        f"(`{{\"text\": \"{c['sentence'][:30]}…\"}}`), {c['rounds']} alternating rounds after "
        "a 2 s warm-up; /score uses the demo corpus's 3-gram mkn model. Server and load "
        "generator share the machine's cores.\n\n" + throughput_table(results["runs"]) + "\n\n"
    )
    if (make_run_s := results["make_run_s"]) is not None:
        body += (f"`make run` (`.venv` already installed) to a 200 from `/ready`, training "
                 f"every model on `corpora/demo` from scratch: **{make_run_s:.0f} s**.\n")
    return body


def main() -> None:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk not found (apt-get install -y wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        from nlpsvc.cli import main as cli

        assert cli(["train", str(ROOT / "corpora" / "demo"), "--only", "ngram",
                    "--out", str(tmp_path / "ngram"), "-q"]) == 0
        runs = bench_throughput(tmp_path / "ngram")
        make_run_s = None if os.environ.get("BENCH_SKIP_MAKE_RUN") else bench_make_run(tmp_path)
    results = {
        "settings": {"workers": WORKERS, "threads": THREADS, "worker_class": worker_class(),
                     "connections": CONNECTIONS, "duration_s": DURATION_S, "rounds": ROUNDS,
                     "sentence": SENTENCE},
        "runs": runs, "make_run_s": make_run_s,
    }
    publish("service", "Service: /score vs a bare Flask echo (gunicorn)", results, render,
            "flock /tmp/nlpsvc-bench.lock python -m bench.run --only service")
    rps = {name: statistics.mean(r["rps"] for r in rs) for name, rs in runs.items()}
    print(json.dumps({"ratio": rps["score"] / rps["echo"], "make_run_s": make_run_s}))


if __name__ == "__main__":
    main()
