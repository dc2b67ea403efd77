"""The real server: ``nlpsvc serve`` (gunicorn) on a free loopback port, called over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

requests = pytest.importorskip("requests")

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_serves_score(models_root: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "nlpsvc.cli", "serve", "--models", str(models_root),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--threads", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if requests.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or busy loading
                pass
            assert time.monotonic() < deadline, "server not ready in 60 s"
            time.sleep(0.2)
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
        padded = b'{"text": "the queen"}' + b" " * (2 << 20)  # the first MiB parses
        chunked = requests.post(f"{base}/score", data=iter([padded[:1 << 20], padded[1 << 20:]]),
                                timeout=10, headers={"Content-Type": "application/json"})
        assert chunked.request.headers.get("Transfer-Encoding") == "chunked"
        assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "too_large"
        assert requests.get(f"{base}/openapi.json", timeout=10).json()["openapi"].startswith("3")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
