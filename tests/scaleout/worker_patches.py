"""Functions the tests run on Dask workers (``client.run``) to make a job fail or slow down.

They wrap ``nlpsvc.batch.score_chunk``, which ``nlpsvc.dask.score.score_part`` calls through
the module, so a patched worker process behaves differently until it is restored or restarted.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import nlpsvc.batch as batch

_ORIGINAL = batch.score_chunk


def kill_first_task(marker: str) -> None:
    """The first chunk scored on any worker kills that worker process (``kill -9``)."""

    def wrapped(spec: Any, records: Any) -> Any:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return _ORIGINAL(spec, records)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    batch.score_chunk = wrapped


def slow_chunks(seconds: float) -> None:
    """Every chunk takes ``seconds`` longer (to interrupt a job midway)."""

    def wrapped(spec: Any, records: Any) -> Any:
        time.sleep(seconds)
        return _ORIGINAL(spec, records)

    batch.score_chunk = wrapped


def restore() -> None:
    batch.score_chunk = _ORIGINAL
