"""One JSON line per request, and the request id that ties it to the client's view.

A slow or failed request must be traceable to its parameters without logging what users sent:
each line holds the time, request id, method, endpoint, status, duration, model set, kind,
version and number of texts, never the texts. The id is the client's ``X-Request-ID`` when it is
a sane token (so a caller's own id follows the request), otherwise one made here; it is echoed
in the response either way.

Blueprints say which model answered through ``note()`` (the registry and the text validation do
it for them), which puts the values in the WSGI environ where ``observe.py`` reads them.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import threading
import time
from typing import IO, Any

from flask import request

HEADER = "X-Request-ID"
ENV_ID = "nlpsvc.request_id"
ENV_NOTE = "nlpsvc.note"  # dict: model, kind, version, texts
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")  # nothing that could forge a log line

_ids = itertools.count(1)
_prefix = os.urandom(6).hex()


def _new_process() -> None:
    global _ids, _prefix
    _ids, _prefix = itertools.count(1), os.urandom(6).hex()


os.register_at_fork(after_in_child=_new_process)  # two workers never share a prefix


def request_id(given: str | None) -> str:
    """``given`` when it is a sane id, else a new one unique across processes.

    A random per-process prefix and a counter: cheaper than a uuid on every request.
    """
    if given and _SANE_ID.fullmatch(given):
        return given
    return f"{_prefix}-{next(_ids)}"


def note(model: str | None = None, kind: str | None = None, version: str | None = None,
         texts: int | None = None) -> None:
    """Record, for this request's log line and metrics, which model answered and how many texts.

    Safe outside a request (does nothing) and outside the middleware (the note is just unread).
    """
    try:
        environ = request.environ
    except RuntimeError:  # no request context (a model used directly)
        return
    info = environ.get(ENV_NOTE)
    if info is None:
        info = environ[ENV_NOTE] = {}
    if model is not None:
        info["model"] = model
    if kind is not None:
        info["kind"] = kind
    if version is not None:
        info["version"] = version
    if texts is not None:
        info["texts"] = texts


class RequestLog:
    """Writes one JSON object per line: to stderr ("-"), a file (appended), or a text stream.

    Written directly rather than through ``logging``: a line costs a few microseconds instead
    of a LogRecord, formatter and handler lock on every request. A file gets each line with one
    ``O_APPEND`` write, so workers sharing it never interleave lines.
    """

    def __init__(self, target: str | IO[str]) -> None:
        self._fd: int | None = None
        self._stream: IO[str] | None = None  # None with "-": sys.stderr at write time
        if isinstance(target, str) and target != "-":
            self._fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        elif not isinstance(target, str):
            self._stream = target
        self._encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
        self._lock = threading.Lock()  # gthread workers: one line at a time on a stream
        self._parts: dict[tuple[Any, ...], str] = {}
        self._second = -1
        self._prefix = ""

    def write(self, rid: str, method: str, endpoint: str, status: int, seconds: float,
              info: dict[str, Any] | None) -> None:
        """One line, built from parts rather than one ``json.dumps`` (this runs on every
        request): the request id, method and endpoint come from fixed safe alphabets, and the
        model fields are encoded once per (model, kind, version)."""
        now = time.time()
        second = int(now)
        if second != self._second:  # ISO 8601 UTC; the seconds part formatted once a second
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        tail = "}\n"
        if info:
            key = (info.get("model"), info.get("kind"), info.get("version"))
            part = self._parts.get(key)
            if part is None:
                part = self._model_part(key)
            texts = info.get("texts")
            tail = part + (f',"texts":{texts:d}}}\n' if texts is not None else tail)
        line = (f'{{"time":"{self._prefix}.{int((now - second) * 1000):03d}Z",'
                f'"request_id":"{rid}","method":"{method}","endpoint":"{endpoint}",'
                f'"status":{status},"duration_ms":{seconds * 1000:.3f}{tail}')
        try:
            if self._fd is not None:
                os.write(self._fd, line.encode())
                return
            stream = self._stream or sys.stderr
            with self._lock:
                stream.write(line)
                stream.flush()
        except (OSError, ValueError):  # a closed or full log must not fail the request
            pass

    def _model_part(self, key: tuple[Any, ...]) -> str:
        named = {k: v for k, v in zip(("model", "kind", "version"), key, strict=True)
                 if v is not None}
        part = "," + self._encode(named)[1:-1] if named else ""
        if len(self._parts) < 1024:
            self._parts[key] = part
        return part


def log_target(value: object) -> str | None:
    """The ``REQUEST_LOG`` setting as a target: "-" (stderr), a file path, or None (off)."""
    if value is None or value is False or str(value).strip().lower() in ("", "off", "none", "0",
                                                                        "false"):
        return None
    return "-" if value is True else str(value)
