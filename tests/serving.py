"""Starting and stopping a real ``nlpsvc serve`` in tests: one free port, one readiness wait,
one clean stop (the server runs in its own session so its workers go with it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, proc: subprocess.Popen, timeout: float,
               output: Callable[[], str]) -> None:
    """Poll ``/ready`` until 200; fail with the server's ``output()`` if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, output()
        try:
            if requests.get(f"{base}/ready", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or busy loading
            pass
        assert time.monotonic() < deadline, f"server not ready in {timeout:.0f} s"
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL if it has not exited in 20 s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
