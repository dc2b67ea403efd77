"""Prometheus metrics (``GET /metrics``), counted across every gunicorn worker.

gunicorn's workers are separate processes, so each one's counters would be a fraction of the
truth and ``/metrics`` would answer for whichever worker took the scrape. prometheus-client's
multi-process mode keeps every worker's values in memory-mapped files under
``PROMETHEUS_MULTIPROC_DIR`` and sums them at scrape time; ``nlpsvc serve`` sets that folder up
(``server.py``) and marks exited workers dead. Without the variable (tests, the Flask dev
server) the values live in the process, as usual.

prometheus-client reads the variable when it is first imported, so it is imported here lazily,
in the worker, never at module import. Recording is on the ``/score`` hot path, so requests
are tallied in dictionaries and flushed in batches (``Metrics``).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from bisect import bisect_left

from flask import Blueprint, Response

bp = Blueprint("metrics", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Request durations: /score is ~0.1-1 ms, /reply up to seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
FLUSH_SECONDS = 0.5  # how late /metrics may be (a scrape every 15 s or more does not notice)

_lock = threading.Lock()
_metrics: Metrics | None = None


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())


class Metrics:
    """The service's metrics, built once per process (prometheus-client's registry is global).

    Requests are tallied in plain dictionaries and added to the prometheus values in batches
    (at most ``FLUSH_SECONDS`` late: on a later request, a scrape, a background tick, or exit).
    Each prometheus increment in multi-process mode takes a lock, checks the pid and writes the
    memory-mapped file; four of them per request were ~8 us of a ~75 us ``/score``, and the
    tally is ~1 us. Histogram buckets are found here (``bisect``) and added to the child's
    bucket values directly; if a prometheus-client release renames those internals, each
    duration is observed through the public ``observe`` instead.
    """

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter("nlpsvc_http_requests", "HTTP requests answered.",
                                ("endpoint", "method", "status"))
        self.duration = Histogram("nlpsvc_http_request_duration_seconds",
                                  "Time from the request reaching the app to its response.",
                                  ("endpoint",), buckets=BUCKETS)
        self.texts = Counter("nlpsvc_texts", "Texts (or queries) processed.", ("endpoint",))
        # 1 for each model version a live worker serves; 0 once every worker has swapped it out.
        self.model_info = Gauge("nlpsvc_model_info", "Model versions being served.",
                                ("model", "kind", "version"), multiprocess_mode="livemax")
        self._bounds = [*BUCKETS, float("inf")]
        self._lock = threading.Lock()
        self._reset()
        self._last_flush = time.monotonic()
        self._ticker: threading.Thread | None = None
        self._pid = os.getpid()
        atexit.register(self.flush)

    def _reset(self) -> None:
        self._count: dict[tuple[str, str, str], int] = {}
        self._hist: dict[str, list[float]] = {}  # endpoint -> bucket counts + [sum]
        self._texts: dict[str, int] = {}

    def record(self, endpoint: str, method: str, status: str, seconds: float,
               texts: int) -> None:
        """Tally one answered request (runs on every request: dictionaries only)."""
        key = (endpoint, method, status)
        with self._lock:
            self._count[key] = self._count.get(key, 0) + 1
            hist = self._hist.get(endpoint)
            if hist is None:
                hist = self._hist[endpoint] = [0.0] * (len(self._bounds) + 1)
            hist[bisect_left(self._bounds, seconds)] += 1
            hist[-1] += seconds
            if texts:
                self._texts[endpoint] = self._texts.get(endpoint, 0) + texts
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_SECONDS:
            self.flush(now)
        elif self._ticker is None:
            self._start_ticker()

    def flush(self, now: float | None = None) -> None:
        """Add the tallies to the prometheus values (what ``/metrics`` reads)."""
        with self._lock:
            count, hists, texts = self._count, self._hist, self._texts
            self._reset()
            self._last_flush = time.monotonic() if now is None else now
        for labels, n in count.items():
            self.requests.labels(*labels).inc(n)
        for endpoint, hist in hists.items():
            child = self.duration.labels(endpoint)
            buckets, total = getattr(child, "_buckets", None), getattr(child, "_sum", None)
            if buckets is None or total is None or len(buckets) != len(self._bounds):
                for i, n in enumerate(hist[:-1]):  # public API: one observe per request
                    for _ in range(int(n)):
                        child.observe(self._bounds[i] if i < len(BUCKETS) else 1e9)
                continue
            for i, n in enumerate(hist[:-1]):
                if n:
                    buckets[i].inc(n)
            total.inc(hist[-1])
        for endpoint, n in texts.items():
            self.texts.labels(endpoint).inc(n)

    def _start_ticker(self) -> None:
        """A daemon thread that flushes an idle worker's last tallies (one per process)."""
        with self._lock:
            if self._ticker is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()

            def tick() -> None:
                while True:
                    time.sleep(FLUSH_SECONDS)
                    if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
                        self.flush()

            self._ticker = threading.Thread(target=tick, name="nlpsvc-metrics", daemon=True)
            self._ticker.start()

    def serving(self, model: str, kind: str, version: str, old: str | None = None) -> None:
        """``model``'s ``kind`` is now served at ``version`` (``old``, if any, no longer)."""
        if old is not None and old != version:
            self.model_info.labels(model, kind, old).set(0)
        self.model_info.labels(model, kind, version).set(1)

    def exposition(self) -> bytes:
        """The text format: every worker's values summed in multi-process mode."""
        from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess

        self.flush()
        if multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(REGISTRY)


def metrics() -> Metrics:
    """This process's metrics (created on first use, after any fork)."""
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


def mark_dead(pid: int) -> None:
    """gunicorn ``child_exit`` hook: drop an exited worker's live gauges."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


@bp.get("/metrics")
def scrape() -> Response:
    return Response(metrics().exposition(), content_type=CONTENT_TYPE)


OPENAPI_PATHS = {
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics (text format), summed over every worker.",
            "responses": {"200": {"description": "OK", "content": {
                "text/plain": {"schema": {"type": "string"}}}}},
        }
    }
}
