"""The real server: ``nlpsvc serve`` (gunicorn) on a free loopback port, called over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import free_port, stop, wait_ready

requests = pytest.importorskip("requests")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(models_root: Path) -> Iterator[tuple[str, int]]:
    """``nlpsvc serve`` with 2 workers (the default class) over the mini n-gram set:
    (base URL, port)."""
    port = free_port()
    cmd = [sys.executable, "-m", "nlpsvc.cli", "serve", "--models", str(models_root),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    # the request log off: its lines would fill the unread pipe and block the workers
    env = {**os.environ, "NLPSVC_REQUEST_LOG": "off"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, 60,
                   lambda: proc.stdout.read().decode() if proc.stdout else "")
        yield base, port
    finally:
        stop(proc)


def raw_request(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer: (status, lower-cased headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines)}
    return int(status_line.split()[1]), headers, body


def test_gunicorn_serves_score(server: tuple[str, int]) -> None:
    base, _ = server
    resp = requests.post(f"{base}/score", json={"texts": ["the queen said", "alice"]},
                         timeout=10)
    assert resp.status_code == 200
    results = resp.json()["results"]
    assert [r["text"] for r in results] == ["the queen said", "alice"]
    assert all(r["log10_prob"] < 0 for r in results)
    bad = requests.post(f"{base}/score", data="{", timeout=10,
                        headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_json"
    big = requests.post(f"{base}/score", data=b"x" * (2 << 20), timeout=10,
                        headers={"Content-Type": "application/json"})
    assert big.status_code == 413
    assert requests.get(f"{base}/openapi.json", timeout=10).json()["openapi"].startswith("3")


def test_chunked_body_over_the_limit_is_413(server: tuple[str, int]) -> None:
    """Issue 14: a chunked body was cut at 1 MiB and answered 200 when the first MiB parsed."""
    base, _ = server
    padded = b'{"text": "the queen"}' + b" " * (2 << 20)
    chunked = requests.post(f"{base}/score", data=iter([padded[:1 << 20], padded[1 << 20:]]),
                            timeout=10, headers={"Content-Type": "application/json"})
    assert chunked.request.headers.get("Transfer-Encoding") == "chunked"
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize("data, status, code", [
    (b"NOT A REQUEST\r\n\r\n", 400, "bad_request"),
    (b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n", 431, "headers_too_large"),
])
def test_gunicorn_error_pages_are_json(server: tuple[str, int], data: bytes, status: int,
                                       code: str) -> None:
    """Issue 14: gunicorn's own 400/414/431 pages were HTML."""
    status_got, headers, body = raw_request(server[1], data)
    assert status_got == status
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert error["code"] == code and error["field"] is None
    assert error["message"] and "\n" not in error["message"] and len(error["message"]) <= 200


def test_405_carries_allow(server: tuple[str, int]) -> None:
    resp = requests.get(f"{server[0]}/score", timeout=10)
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in resp.headers["Allow"]


def test_slow_clients_do_not_starve_the_service(server: tuple[str, int]) -> None:
    """Issue 14: two clients sending headers slowly blocked both sync workers for 60 s.
    With 64 of them connected (and trickling bytes), normal requests answer within 1 s."""
    base, port = server
    slow = []
    try:
        for _ in range(64):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)
        time.sleep(0.3)  # every slow connection accepted and waiting
        for i in range(6):
            for s in slow:
                s.sendall(b"X")  # a header, one byte at a time
            t0 = time.monotonic()
            resp = requests.post(f"{base}/score", json={"text": f"the queen said {i}"}, timeout=5)
            assert resp.status_code == 200
            assert requests.get(f"{base}/health", timeout=5).status_code == 200
            assert time.monotonic() - t0 < 1.0, f"normal requests took {time.monotonic() - t0} s"
        # a slow client that finishes its request is answered as usual
        body = b'{"text": "alice"}'
        s = slow.pop()
        s.sendall(b"-Late: 1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  % len(body))
        s.sendall(body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200") and b'"text":"alice"' in answer
    finally:
        for s in slow:
            s.close()
