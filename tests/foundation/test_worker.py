"""The slow-client-safe gunicorn worker: when a read-ahead request is complete (over HTTP in
``test_gunicorn.py``)."""

from __future__ import annotations

import logging
import selectors
import socket
import time

import pytest

from nlpsvc.service import worker as wk
from nlpsvc.service.worker import MAX_BUFFER, request_complete

HEAD = b"POST /score HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize("data, complete", [
    (HEAD, False),  # headers still coming
    (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", True),
    (HEAD + b"Content-Length: 5\r\n\r\nabc", False),
    (HEAD + b"content-length:5\r\n\r\nabcde", True),
    (HEAD + b"content-length:5\r\n\r\nabcd", False),
    (HEAD + b"Content-Length: 99999999\r\n\r\n", True),  # over the buffer: the app answers 413
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", False),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", True),
    (HEAD + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n", True),  # waits for "100"
    (b"X" * MAX_BUFFER, True),  # never-ending head: gunicorn's limits answer it
])
def test_request_complete(data: bytes, complete: bool) -> None:
    assert request_complete(data) is complete


def test_a_request_not_sent_in_time_is_dropped() -> None:
    """The loop's bookkeeping without a gunicorn arbiter: a slow client is accepted, read
    without blocking, and closed once ``REQUEST_TIMEOUT`` has passed; a complete request is
    handed on."""
    w = wk.BufferedSyncWorker.__new__(wk.BufferedSyncWorker)  # no arbiter, no app
    w.log = logging.getLogger("test")
    w._sel, w._pending = selectors.DefaultSelector(), {}
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    slow = socket.create_connection(listener.getsockname())
    fast = socket.create_connection(listener.getsockname())
    try:
        slow.sendall(HEAD)
        fast.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)
        w._accept(listener)
        assert len(w._pending) == 2
        done = [p for key, _ in w._sel.select(1) if (p := w._read(key.data)) is not None]
        assert [p.data for p in done] == [bytearray(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")]
        w._expire(time.monotonic() + wk.REQUEST_TIMEOUT + 1)
        assert w._pending == {}
        slow.settimeout(2)
        assert slow.recv(10) == b""  # closed by the server
    finally:
        for s in (slow, fast, listener):
            s.close()
        w._sel.close()
