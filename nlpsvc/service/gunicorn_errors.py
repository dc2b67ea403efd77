"""gunicorn's own error pages (400, 414, 431, ...) in the service's JSON error format (SPEC §4).

gunicorn answers requests it cannot parse (a bad request line, a URI or headers too large)
before the app sees them, with an HTML page written by ``gunicorn.util.write_error``. It has no
setting or hook for that page; its workers call ``util.write_error`` through the module, so
replacing that one function (in the master, before workers fork, and again in each worker) makes
every such answer ``{"error": {"code", "message", "field": null}}`` as JSON. If a gunicorn
release stops calling it, those pages fall back to gunicorn's HTML (the status codes stay).
"""

from __future__ import annotations

import json
import socket

from gunicorn import util

CODES = {400: "bad_request", 403: "forbidden", 414: "uri_too_long", 417: "expectation_failed",
         431: "headers_too_large", 500: "internal_error", 501: "not_implemented"}
MAX_MESSAGE = 200  # gunicorn's messages can quote the whole (rejected) request line


def error_page(status: int, reason: str, message: str) -> bytes:
    """The raw HTTP response: status line, close, JSON body with a one-line message."""
    line = " ".join((message or reason).split())
    if len(line) > MAX_MESSAGE:
        line = line[: MAX_MESSAGE - 3] + "..."
    body = json.dumps({"error": {"code": CODES.get(status, "http_error"), "message": line,
                                 "field": None}}).encode("ascii") + b"\n"
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error`` (same signature)."""
    util.write_nonblock(sock, error_page(status_int, reason, mesg))


def install() -> None:
    """Make gunicorn write its own error pages as JSON (idempotent)."""
    util.write_error = write_json_error
