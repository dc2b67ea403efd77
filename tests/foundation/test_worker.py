"""The slow-client-safe gunicorn worker: when a read-ahead request is complete (over HTTP in
``test_gunicorn.py``)."""

from __future__ import annotations

import pytest

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
