"""One thread policy for every served PyTorch model (chatbot, fastText-style classifier).

A server worker runs one request at a time; torch's default (one OpenMP thread per core) makes N
workers on N cores fight over the cores, and small ops then run ~100x slower. Each family's
``load_artifact`` calls :func:`set_serving_threads` so a loaded model always runs with
``$NLPSVC_TORCH_THREADS`` threads (default 1) unless the caller names a count.
"""

from __future__ import annotations

import os

from nlpsvc.artifacts import ArtifactError

THREADS_ENV = "NLPSVC_TORCH_THREADS"
DEFAULT_THREADS = 1


def serving_threads(threads: int | None = None) -> int:
    """``threads`` if given, else ``$NLPSVC_TORCH_THREADS``, else 1 (0 or less: torch's default)."""
    if threads is not None:
        return threads
    raw = os.environ.get(THREADS_ENV, str(DEFAULT_THREADS))
    try:
        return int(raw)
    except ValueError as e:
        raise ArtifactError(f"{THREADS_ENV}={raw!r} is not an integer") from e


def set_serving_threads(threads: int | None = None) -> int:
    """Apply :func:`serving_threads` with ``torch.set_num_threads`` (a count ≤ 0 leaves torch's
    default); returns the count torch now uses."""
    import torch

    n = serving_threads(threads)
    if n > 0 and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return torch.get_num_threads()
