"""WSGI middleware around the app: request id, Prometheus counts and the JSON request log.

One wrapper rather than Flask ``before/after_request`` hooks: it sees every answer (404s, 401s
from the token check, errors raised anywhere) and costs one function frame per request. The
endpoint label is the route's path for the app's fixed routes, ``static`` for page assets and
``other`` for anything else, so scanners probing random paths cannot grow the label set.

What it adds to a ``/score`` request is measured by ``python -m bench.service_overhead``
(in-process, CPU time): about 10 us on a ~75 us request with metrics, the log line and a token
check on (this wrapper and the request id ~2 us, metrics ~2.5, the log line ~3, the token ~2).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from nlpsvc.service.metrics import Metrics
from nlpsvc.service.reqlog import ENV_ID, ENV_NOTE, HEADER, RequestLog, request_id

_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))

StartResponse = Callable[..., Any]


class Observe:
    """Wraps a WSGI app: ``X-Request-ID`` in and out, then metrics and one log line."""

    def __init__(self, app: Callable[..., Iterable[bytes]], endpoints: Iterable[str],
                 metrics: Metrics | None, log: RequestLog | None) -> None:
        self.app = app
        self.endpoints = {path: path for path in endpoints}
        self.metrics = metrics
        self.log = log

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        t0 = time.perf_counter()
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENV_ID] = rid
        seen: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append((HEADER, rid))
            seen.append(status)
            return start_response(status, headers, exc_info)

        body = self.app(environ, start)
        # Flask has built the whole response by now (JSON bodies are one buffer).
        seconds = time.perf_counter() - t0
        status = seen[-1][:3] if seen else "500"
        path = environ.get("PATH_INFO", "")
        endpoint = self.endpoints.get(path) or (
            "static" if path.startswith("/static/") else "other")
        method = environ.get("REQUEST_METHOD", "")
        if method not in _METHODS:
            method = "other"
        info = environ.get(ENV_NOTE)
        if self.metrics is not None:
            texts = info.get("texts", 0) if info and status == "200" else 0
            self.metrics.record(endpoint, method, status, seconds, texts)
        if self.log is not None:
            self.log.write(rid, method, endpoint, int(status), seconds, info)
        return body
