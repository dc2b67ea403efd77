"""A gunicorn sync worker that reads each request in full before the request takes the worker.

gunicorn's sync worker reads a request on a blocking socket with no timeout, so a client that
sends its headers slowly holds a whole worker process for as long as it likes: two such clients
stopped a two-worker service for 60 s (issue 14). Here the worker's main loop is a selector over
its listening sockets and every connection still arriving. Connections are read without
blocking until the request head and its ``Content-Length`` body (or a chunked body's last
chunk) are in; only then is the app run on it, one request at a time per process as in the sync
worker (``/score`` is CPU-bound: threads would only add GIL hand-offs). Lingering on close,
until the client has read the response, happens in the same loop. A connection that has not sent
its request within ``REQUEST_TIMEOUT`` seconds is closed; one buffering more than ``MAX_BUFFER``
bytes is handed to the app as it is (gunicorn's own limits or the app's 413 answer it).

Not covered: a body behind ``Expect: 100-continue`` (the client waits for gunicorn's
"100 Continue", sent once the app reads the body) is read by the app as it comes, and TLS
(``--certfile``) falls back to the plain sync loop.
"""

from __future__ import annotations

import errno
import os
import re
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gunicorn import util
from gunicorn.workers.sync import SyncWorker

REQUEST_TIMEOUT = 30.0  # seconds a client has to send its whole request
LINGER = 2.0  # seconds to wait for the client to close after the response (RFC 9112 §9.6)
MAX_LINGER_BYTES = 65536
MAX_BUFFER = 2 << 20  # head + body read ahead; above, the app reads the rest itself
READ_SIZE = 65536
ACCEPT_BURST = 64  # connections accepted per wake-up before reading the ones we have

_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d+)[ \t]*\r?$", re.I | re.M)
_CHUNKED = re.compile(rb"^transfer-encoding[ \t]*:.*chunked", re.I | re.M)
_EXPECT = re.compile(rb"^expect[ \t]*:", re.I | re.M)


def request_complete(data: bytes) -> bool:
    """Whether ``data`` holds a whole request (head, and body as far as worth waiting for)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) >= MAX_BUFFER
    head, body = data[:end + 2], data[end + 4:]
    if _EXPECT.search(head):
        return True  # the client waits for "100 Continue" before sending the body
    if _CHUNKED.search(head):
        return body.endswith(b"0\r\n\r\n") or len(data) >= MAX_BUFFER
    match = _CONTENT_LENGTH.search(head)
    if match is None:
        return True  # no body
    length = int(match.group(1))
    return len(body) >= length or length + end + 4 > MAX_BUFFER


class _Connection:
    """The client socket as the sync worker's handler sees it.

    ``recv`` returns the bytes the loop read ahead first. Once the handler half-closes it
    (``util.close_graceful``), reads answer end-of-stream and ``close`` hands the socket back to
    the loop, which lingers there instead of in the worker.
    """

    def __init__(self, sock: socket.socket, data: bytes,
                 linger: Callable[[socket.socket], None]) -> None:
        self._sock, self._data, self._linger = sock, data, linger
        self._closing = False

    def recv(self, size: int, flags: int = 0) -> bytes:
        if self._data:
            chunk, self._data = self._data[:size], self._data[size:]
            return chunk
        if self._closing:
            return b""
        return self._sock.recv(size, flags)

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)
        self._closing = self._closing or how in (socket.SHUT_WR, socket.SHUT_RDWR)

    def settimeout(self, value: float | None) -> None:
        if not self._closing:
            self._sock.settimeout(value)

    def close(self) -> None:
        if self._closing:
            self._linger(self._sock)
        else:
            self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@dataclass
class _Pending:
    """A connection in the loop: arriving (``reading``) or lingering after its response."""

    sock: socket.socket
    addr: Any
    listener: socket.socket
    deadline: float
    reading: bool = True
    data: bytearray = field(default_factory=bytearray)
    drained: int = 0


class BufferedSyncWorker(SyncWorker):
    """``SyncWorker`` whose slow clients wait in a selector, not in the worker (see module)."""

    def run(self) -> None:
        if self.cfg.is_ssl:
            super().run()
            return
        for s in self.sockets:
            s.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._pending: dict[int, _Pending] = {}
        for s in self.sockets:
            self._sel.register(s, selectors.EVENT_READ, None)
        self._sel.register(self.PIPE[0], selectors.EVENT_READ, "pipe")
        try:
            self._loop()
        finally:
            for p in list(self._pending.values()):
                self._drop(p)
            self._sel.close()

    def _loop(self) -> None:
        while self.alive:
            self.notify()
            now = time.monotonic()
            wait = min([1.0, *(p.deadline - now for p in self._pending.values())])
            try:
                events = self._sel.select(max(wait, 0.0))
            except InterruptedError:
                continue
            ready = []
            for key, _ in events:
                if key.data == "pipe":
                    try:
                        os.read(self.PIPE[0], 1)
                    except BlockingIOError:
                        pass
                elif key.data is None:
                    self._accept(key.fileobj)  # type: ignore[arg-type]
                elif (p := self._read(key.data)) is not None:
                    ready.append(p)
            self._expire(time.monotonic())
            for p in ready:
                if not self.alive:
                    break
                self._serve(p)
            if not self.is_parent_alive():
                return

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(ACCEPT_BURST):
            try:
                client, addr = listener.accept()
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):
                    return
                raise
            client.setblocking(False)
            util.close_on_exec(client)
            p = _Pending(client, addr, listener, time.monotonic() + REQUEST_TIMEOUT)
            self._pending[client.fileno()] = p
            self._sel.register(client, selectors.EVENT_READ, p)

    def _read(self, p: _Pending) -> _Pending | None:
        """Read what has arrived; ``p`` when its request is complete, else None."""
        try:
            chunk = p.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            chunk = b""
        if not p.reading:  # lingering: discard until the client closes
            p.drained += len(chunk)
            if not chunk or p.drained >= MAX_LINGER_BYTES:
                self._drop(p)
            return None
        if not chunk:  # the client gave up (or sent nothing at all)
            if p.data:
                return p  # let gunicorn answer the partial request as it would
            self._drop(p)
            return None
        p.data += chunk
        return p if request_complete(bytes(p.data)) else None

    def _serve(self, p: _Pending) -> None:
        """Run the app on a complete request, exactly as the sync worker does."""
        self._sel.unregister(p.sock)
        del self._pending[p.sock.fileno()]
        p.sock.setblocking(True)
        self.handle(p.listener, _Connection(p.sock, bytes(p.data), self._linger), p.addr)

    def _linger(self, sock: socket.socket) -> None:
        """After the response: wait (in the loop) for the client to close, then close."""
        try:
            sock.setblocking(False)
            p = _Pending(sock, None, sock, time.monotonic() + LINGER, reading=False)
            self._pending[sock.fileno()] = p
            self._sel.register(sock, selectors.EVENT_READ, p)
        except (OSError, ValueError):
            sock.close()

    def _expire(self, now: float) -> None:
        for p in [p for p in self._pending.values() if p.deadline <= now]:
            if p.reading:
                self.log.debug("closing a connection that sent no complete request in %.0f s",
                               REQUEST_TIMEOUT)
            self._drop(p)

    def _drop(self, p: _Pending) -> None:
        self._pending.pop(p.sock.fileno(), None)
        try:
            self._sel.unregister(p.sock)
        except (KeyError, ValueError):
            pass
        p.sock.close()
