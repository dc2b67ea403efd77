"""Per-request cost of the issue-13 layer on ``/score``, measured in-process (no HTTP, no load).

The app's WSGI callable is called directly with a prebuilt environ, as gunicorn's worker
would, so the numbers are the service's own Python and not the network stack. Compared:

* ``bare``: the Flask app without the observing middleware (request id, metrics, log);
* ``observed``: request id + metrics (prometheus-client multi-process mode, as under
  ``nlpsvc serve``) + the JSON request log (to ``/dev/null``) + an API token check;
* ``echo``: a bare Flask JSON echo (bench/echo_app.py), the throughput goal's reference.

Rounds alternate so drift hits every variant. Each round is timed in CPU time of this process
(``time.process_time``) and the fastest round of each variant is kept: on a shared 2-core machine
other jobs' load inflates wall times and medians, not the CPU a request needs. Quick (~15 s)
and light: one core, one process. Part of the ``service_ops`` suite, which stores and renders
its figures.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BODY = json.dumps({"text": "Alice was beginning to get very tired of sitting by her sister"})
N = int(os.environ.get("OVERHEAD_N", 1000))
ROUNDS = int(os.environ.get("OVERHEAD_ROUNDS", 15))


def environ(path: str, token: str | None = None) -> Callable[[], dict[str, Any]]:
    data = BODY.encode()
    base = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "x",
            "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(data))}
    if token:
        base["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    def make() -> dict[str, Any]:
        return {**base, "wsgi.input": io.BytesIO(data), "wsgi.errors": sys.stderr}

    return make


def per_request_us(app: Callable, make: Callable[[], dict[str, Any]]) -> float:
    def start(status: str, headers: list, exc_info: Any = None) -> None:
        assert status.startswith("200"), status

    t0 = time.process_time()
    for _ in range(N):
        for _chunk in app(make(), start):
            pass
    return (time.process_time() - t0) / N * 1e6


def main(argv: list[str] | None = None) -> None:
    """Figures as JSON on stdout, and to ``--json PATH`` when given."""
    argv = sys.argv[1:] if argv is None else argv
    tmp = Path(tempfile.mkdtemp(prefix="overhead-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "prom")
    (tmp / "prom").mkdir()
    from bench.echo_app import create_app as echo_app
    from nlpsvc.cli import main as cli
    from nlpsvc.service import create_app

    assert cli(["train", str(ROOT / "corpora" / "demo"), "--only", "ngram", "--out",
                str(tmp / "models"), "-q"]) == 0
    observed = create_app({"MODELS_DIR": str(tmp / "models"), "REQUEST_LOG": os.devnull,
                           "API_TOKENS": ["bench-token"]})
    bare = create_app({"MODELS_DIR": str(tmp / "models"), "REQUEST_LOG": "off",
                       "METRICS": False})
    variants = {
        "echo": (echo_app().wsgi_app, environ("/echo")),
        "bare": (bare.wsgi_app.app, environ("/score")),  # Flask itself, middleware unwrapped
        "observed": (observed.wsgi_app, environ("/score", "bench-token")),
    }
    for app, make in variants.values():
        per_request_us(app, make)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(ROUNDS):
        for name, (app, make) in variants.items():
            times[name].append(per_request_us(app, make))
    med = {name: min(v) for name, v in times.items()}
    out = {
        "per_request_us": {k: round(v, 1) for k, v in med.items()},
        "added_us": round(med["observed"] - med["bare"], 1),
        "added_pct_of_score": round((med["observed"] / med["bare"] - 1) * 100, 1),
        "requests_per_variant": N * ROUNDS,
        "rounds": ROUNDS,
        "requests_per_round": N,
    }
    text = json.dumps(out, indent=1)
    if argv and argv[0] == "--json":  # bench/service_ops stores it with its results
        Path(argv[1]).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
