"""Issue 13's figures: what tokens + metrics cost ``/score`` under wrk; hot reload under load.

1. Throughput: ``nlpsvc serve`` with every switchable part of the layer off (no tokens,
   ``NLPSVC_METRICS=false``, ``NLPSVC_REQUEST_LOG=off``) against tokens + metrics on, and against
   everything on (tokens, metrics, the JSON request log appended to a file). The request id and
   the observing wrapper cannot be switched off; they run in every variant, as does hot-reload
   polling (``nlpsvc serve``'s default 2 s). Variants alternate within each round, in a rotated
   order, so drift on the shared machine hits all of them.
2. Reload under load: while ``wrk`` hammers ``/score``, a second ``nlpsvc train`` publishes a new
   version of the served n-gram model into the same models folder (the real publishing path:
   temp folder, rename, ``CURRENT`` replaced). Failed requests are wrk's non-2xx answers and
   socket errors over the whole run.
3. Publish to serving: from the moment ``CURRENT`` names the new version (watched every 2 ms)
   to the first worker and to every worker serving it, read from ``/metrics``'
   ``nlpsvc_model_info`` (``livemax`` over live workers: the new version shows 1 once one worker
   serves it, the old one drops to 0 once none does).

The servers, wrk runs and wrk parsing are ``bench/service.py``'s helpers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench import report
from bench.report import table
from bench.service import (
    CONNECTIONS,
    PY,
    ROOT,
    SENTENCE,
    THREADS,
    WORKERS,
    free_port,
    nlpsvc_serve,
    stop,
    wait_ready,
    worker_class,
    wrk,
)

ROUNDS = int(os.environ.get("BENCH_OPS_ROUNDS", 3))  # alternating rounds of every variant
DURATION_S = int(os.environ.get("BENCH_OPS_SECONDS", 12))
RELOAD_ROUNDS = int(os.environ.get("BENCH_OPS_RELOAD_ROUNDS", 3))
RELOAD_S = int(os.environ.get("BENCH_OPS_RELOAD_SECONDS", 16))
PUBLISH_AT = (RELOAD_S / 8, RELOAD_S * 9 / 16)  # seconds into each round's wrk run
TOKEN = "bench-token-0123456789abcdef"
BODY = {"text": SENTENCE}
CORPUS = ROOT / "corpora" / "demo"
COMMAND = "flock /tmp/nlpsvc-bench.lock python -m bench.run --only service_ops"

_INFO = re.compile(r'^nlpsvc_model_info\{([^}]*)\}\s+([\d.e+-]+)$', re.M)
_SCORE_COUNT = re.compile(r'^nlpsvc_http_requests_total\{([^}]*)\}\s+([\d.e+-]+)$', re.M)


def variants(tmp: Path) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """Name -> (server environment, request headers). Only the switchable parts differ."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    return {
        "off": ({"NLPSVC_METRICS": "false", "NLPSVC_REQUEST_LOG": "off"}, {}),
        "tokens+metrics": ({"NLPSVC_API_TOKENS": TOKEN, "NLPSVC_REQUEST_LOG": "off"}, auth),
        "all on": ({"NLPSVC_API_TOKENS": TOKEN,
                    "NLPSVC_REQUEST_LOG": str(tmp / "requests.log")}, auth),
    }


def score_count(base: str) -> int:
    """``/score`` requests counted in ``/metrics`` (0 when metrics are off): proves the switch."""
    time.sleep(0.7)  # counts are flushed at most 0.5 s late
    text = requests.get(f"{base}/metrics", timeout=10).text
    return int(sum(float(v) for labels, v in _SCORE_COUNT.findall(text)
                   if 'endpoint="/score"' in labels))


def bench_overhead(models: Path, tmp: Path) -> dict[str, list[dict]]:
    """Alternating rounds of every variant; the figure is tokens+metrics' mean against off's."""
    setups = variants(tmp)
    names = list(setups)
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for rnd in range(ROUNDS):
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        for name in order:
            env, headers = setups[name]
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            proc = nlpsvc_serve(models, port, env)
            try:
                wait_ready(f"{base}/ready", proc)
                r = requests.post(f"{base}/score", json=BODY, headers=headers, timeout=10)
                assert r.status_code == 200, r.text
                if headers:  # the token check is really on
                    r = requests.post(f"{base}/score", json=BODY, timeout=10)
                    assert r.status_code == 401, r.status_code
                wrk(f"{base}/score", BODY, 2, headers)  # warm-up
                result = wrk(f"{base}/score", BODY, DURATION_S, headers)
                result["counted"] = score_count(base)
            finally:
                stop(proc)
            runs[name].append(result)
            print(f"[service_ops] round {rnd + 1} {name}: {result['rps']:,.0f} req/s, "
                  f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
                  f"non-2xx {result['non2xx']}, socket errors {result['socket_errors']}, "
                  f"/metrics counted {result['counted']}", flush=True)
    return runs


def model_info(base: str) -> dict[str, float]:
    """version -> ``nlpsvc_model_info`` (livemax over live workers) for the n-gram kind."""
    text = requests.get(f"{base}/metrics", timeout=5).text
    out = {}
    for labels, value in _INFO.findall(text):
        if 'kind="ngram"' in labels:
            version = re.search(r'version="([^"]*)"', labels)
            if version:
                out[version.group(1)] = float(value)
    return out


def publish_version(models: Path) -> tuple[str, str, float]:
    """Run a second ``nlpsvc train`` into ``models``; (old, new, monotonic time CURRENT changed)."""
    current = models / "demo" / "ngram" / "CURRENT"
    old = current.read_text().strip()
    proc = subprocess.Popen([PY, "-m", "nlpsvc.cli", "train", str(CORPUS), "--only", "ngram",
                             "--out", str(models), "-q"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            now = current.read_text().strip()
        except OSError:  # never: CURRENT is replaced by rename
            now = old
        if now and now != old:
            t_pub = time.monotonic()
            break
        if proc.poll() is not None:
            raise RuntimeError(f"nlpsvc train exited {proc.returncode} without publishing")
        time.sleep(0.002)
    if proc.wait(timeout=120) != 0:
        raise RuntimeError(f"nlpsvc train exited {proc.returncode}")
    return old, now, t_pub


def until_served(base: str, old: str, new: str, t_pub: float, timeout: float = 30,
                 ) -> tuple[float, float]:
    """Seconds from publish until one worker, then every worker, serves ``new``."""
    first = None
    while time.monotonic() - t_pub < timeout:
        try:
            info = model_info(base)
        except requests.RequestException:  # a scrape lost to the load: try again
            info = {}
        now = time.monotonic() - t_pub
        if first is None and info.get(new) == 1:
            first = now
        if first is not None and not info.get(old):
            return first, now
        time.sleep(0.02)
    raise RuntimeError(f"{new} not served by every worker {timeout} s after publishing")


def _wrk_into(result: dict, url: str) -> None:
    """The reload rounds' load, in a thread while the main one publishes."""
    result.update(wrk(url, BODY, RELOAD_S))


def bench_reload(models: Path) -> list[dict]:
    """wrk on ``/score`` while new versions are published; failures and publish-to-serving."""
    rounds = []
    for rnd in range(RELOAD_ROUNDS):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = nlpsvc_serve(models, port)
        try:
            wait_ready(f"{base}/ready", proc)
            wrk(f"{base}/score", BODY, 2)  # warm-up
            result: dict = {}
            load = threading.Thread(target=_wrk_into, args=(result, f"{base}/score"))
            t0 = time.monotonic()
            load.start()
            swaps = []
            for at in PUBLISH_AT:
                time.sleep(max(0.0, at - (time.monotonic() - t0)))
                old, new, t_pub = publish_version(models)
                first, every = until_served(base, old, new, t_pub)
                swaps.append({"version": new, "first_s": first, "all_s": every,
                              "under_load": time.monotonic() - t0 < RELOAD_S})
            load.join()
            served = requests.get(f"{base}/models", timeout=10).json()
            assert new in json.dumps(served), served
        finally:
            stop(proc)
        rounds.append({**result, "swaps": swaps})
        print(f"[service_ops] reload round {rnd + 1}: {result['requests']} requests, "
              f"{result['rps']:,.0f} req/s, p99 {result['p99_ms']:.1f} ms, "
              f"non-2xx {result['non2xx']}, socket errors {result['socket_errors']}; "
              + "; ".join(f"publish -> first worker {s['first_s']:.2f} s, all "
                          f"{s['all_s']:.2f} s" for s in swaps), flush=True)
    return rounds


def in_process_overhead(tmp: Path) -> dict[str, Any]:
    """``bench.service_overhead`` in a process of its own (it sets PROMETHEUS_MULTIPROC_DIR)."""
    out = tmp / "overhead.json"
    subprocess.run([PY, "-m", "bench.service_overhead", "--json", str(out)], cwd=ROOT,
                   check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads(out.read_text(encoding="utf-8"))


def overhead_table(runs: dict[str, list[dict]]) -> tuple[str, dict[str, float]]:
    """The tokens + metrics table; loss of each variant's mean req/s against off's."""
    off = statistics.mean(r["rps"] for r in runs["off"])
    rows, loss = [], {}
    for name, rs in runs.items():
        rps = statistics.mean(r["rps"] for r in rs)
        paired = [r["rps"] / o["rps"] for r, o in zip(rs, runs["off"], strict=True)]
        loss[name] = 1 - rps / off
        rows.append([name, f"{rps:,.0f}", " / ".join(f"{r['rps']:,.0f}" for r in rs),
                     "—" if name == "off" else f"{1 - rps / off:.1%}",
                     "—" if name == "off" else " / ".join(f"{1 - p:.1%}" for p in paired),
                     f"{statistics.median(r['p50_ms'] for r in rs):.2f}",
                     f"{statistics.median(r['p99_ms'] for r in rs):.2f}",
                     sum(r["non2xx"] + r["socket_errors"] for r in rs),
                     "yes" if all(r["counted"] for r in rs) else
                     ("no" if not any(r["counted"] for r in rs) else "mixed")])
    text = table(["variant", "req/s (mean)", "req/s per round", "lost vs off (means)",
                  "lost per round (paired)", "p50 ms", "p99 ms", "failed", "/metrics counts"],
                 rows)
    return text, loss


def reload_table(rounds: list[dict]) -> str:
    rows = [[i + 1, f"{r['requests']:,}", f"{r['rps']:,.0f}", f"{r['p99_ms']:.1f}",
             r["non2xx"], r["socket_errors"],
             " / ".join(f"{s['first_s']:.2f}" for s in r["swaps"]),
             " / ".join(f"{s['all_s']:.2f}" for s in r["swaps"])]
            for i, r in enumerate(rounds)]
    return table(["round", "requests", "req/s", "p99 ms", "non-2xx", "socket errors",
                  "publish → first worker serves, s", "publish → every worker serves, s"], rows)


def render(results: dict[str, Any]) -> str:
    """The section from the stored results (``publish`` and ``--render``)."""
    c = results["settings"]
    overhead_text, losses = overhead_table(results["overhead"])
    loss, all_loss = losses["tokens+metrics"], losses["all on"]
    reloads = results["reload"]
    failed = sum(r["non2xx"] + r["socket_errors"] for r in reloads)
    total = sum(r["requests"] for r in reloads)
    swaps = [s for r in reloads for s in r["swaps"]]
    firsts, alls = [s["first_s"] for s in swaps], [s["all_s"] for s in swaps]
    inproc = results["in_process"]
    us = inproc["per_request_us"]
    body = (
        f"`nlpsvc serve --workers {c['workers']} --threads {c['threads']}` (worker class "
        f"`{c['worker_class']}`, hot-reload polling every 2 s, the default) on the demo "
        f"corpus's 3-gram mkn model; load: `wrk -t1 -c{c['connections']} --latency` POSTing a "
        "one-sentence JSON body to `/score`; server and load generator share the machine's "
        "cores.\n\n"
        f"**Tokens + metrics.** {c['rounds']} rounds of {c['duration_s']} s per variant after a "
        "2 s warm-up, variants alternating in a rotated order, a fresh server each run. `off`: "
        "no tokens, `NLPSVC_METRICS=false`, `NLPSVC_REQUEST_LOG=off`; `tokens+metrics`: "
        "`NLPSVC_API_TOKENS` set (wrk sends the Bearer token; a request without it was checked "
        "to get 401), Prometheus metrics on, request log off; `all on`: the same plus the JSON "
        "request log appended to a file. The request id and the observing wrapper are always "
        "on (they cannot be switched off). \"/metrics counts\" checks after each run that "
        "`/score` requests were (or were not) counted.\n\n" + overhead_text + "\n\n"
        f"Throughput lost to tokens + metrics: **{loss:.1%}** (goal ≤ 3%: "
        f"{'met' if loss <= 0.03 else 'not met'}); with the request log as well: "
        f"{all_loss:.1%}.\n\n"
        "**In process** (`python -m bench.service_overhead`, no HTTP: the WSGI callable called "
        "directly, CPU time of one process, best of "
        f"{inproc['rounds']} rounds of {inproc['requests_per_round']:,} requests):\n\n"
        + table(["variant", "CPU µs per request"], [
            ["bare Flask JSON echo", us["echo"]],
            ["`/score`, middleware unwrapped (bare)", us["bare"]],
            ["`/score` with request id, metrics, JSON log (to /dev/null), token check",
             us["observed"]]]) + "\n\n"
        f"The layer adds {inproc['added_us']} µs ({inproc['added_pct_of_score']}%) to an "
        "in-process `/score` request.\n\n"
        f"**Hot reload under load.** {c['reload_rounds']} rounds: a fresh server, wrk for "
        f"{c['reload_s']} s, and {len(c['publish_at'])} new versions published during it (a "
        "second `nlpsvc train corpora/demo --only ngram` into the served models folder, started "
        f"{' and '.join(f'{a:g}' for a in c['publish_at'])} s in). Publish → serving is timed "
        "from the moment `CURRENT` names the new version (watched every 2 ms) to "
        "`nlpsvc_model_info` in `/metrics` showing it served by one worker, then by every "
        "worker (the old version gone); each worker polls on its own 2 s clock, so the "
        "expected figure is up to 2 s plus the load and smoke test.\n\n"
        + reload_table(reloads) + "\n\n"
        f"Failed requests during reloads: **{failed}** of {total:,} (goal 0: "
        f"{'met' if failed == 0 else 'not met'}). Publish → serving over {len(swaps)} "
        f"publishes: first worker median {statistics.median(firsts):.2f} s "
        f"(max {max(firsts):.2f}), every worker median **{statistics.median(alls):.2f} s** "
        f"(max {max(alls):.2f}).\n"
    )
    return body


def main() -> None:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk not found (apt-get install -y wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        models = tmp_path / "models"
        from nlpsvc.cli import main as cli

        assert cli(["train", str(CORPUS), "--only", "ngram", "--out", str(models), "-q"]) == 0
        overhead = bench_overhead(models, tmp_path)
        in_process = in_process_overhead(tmp_path)
        reloads = bench_reload(models)
    results = {
        "settings": {"workers": WORKERS, "threads": THREADS, "worker_class": worker_class(),
                     "connections": CONNECTIONS, "rounds": ROUNDS, "duration_s": DURATION_S,
                     "reload_rounds": RELOAD_ROUNDS, "reload_s": RELOAD_S,
                     "publish_at": list(PUBLISH_AT)},
        "overhead": overhead, "in_process": in_process, "reload": reloads,
    }
    doc = report.publish("service_ops", "Service operations: tokens + metrics cost, hot reload "
                         "under load (issue 13)", results, render, COMMAND)
    print(render(doc["results"]))


if __name__ == "__main__":
    main()
