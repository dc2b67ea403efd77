"""A Dask client for one job: an existing scheduler, or a ``LocalCluster`` of worker processes.

Every failure to get a usable cluster is a ``ClusterError`` of one line: a scheduler that
cannot be reached (within ``CONNECT_TIMEOUT`` seconds, not a hang), client and worker versions
that differ (Dask's own check, its message folded onto one line), a scheduler without
workers, a models folder some worker cannot read.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CONNECT_TIMEOUT = 5.0  # seconds to reach a scheduler: the error comes well within 10 s
WORKERS_TIMEOUT = 30.0  # seconds to wait for a first worker on a scheduler that has none


class ClusterError(Exception):
    """No usable Dask cluster for the job; the message says what to fix."""


def one_line(e: BaseException) -> str:
    """An exception as one line (Dask's version errors span several)."""
    text = " ".join(part.strip() for part in str(e).splitlines() if part.strip())
    return text or type(e).__name__


@contextmanager
def dask_client(scheduler: str | None, workers: int = 2) -> Iterator[Any]:
    """A connected ``distributed.Client``, closed (with its ``LocalCluster``) on exit.

    ``scheduler``: an address (``tcp://host:8786``) or a ``dask scheduler --scheduler-file``
    JSON file; None starts a ``LocalCluster`` of ``workers`` single-threaded processes (each
    loads the model once; threads would only contend for the GIL).
    """
    from distributed import Client, LocalCluster

    quiet_logs()
    if scheduler is None:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR,
                               scheduler_kwargs={"dashboard": False})
        try:
            with Client(cluster, set_as_default=False) as client:
                yield client
        finally:
            cluster.close()
        return
    client = connect(scheduler)
    try:
        yield client
    finally:
        client.close()


def quiet_logs() -> None:
    """Dask's INFO lines (scheduler and nanny chatter) only with ``nlpsvc -v``."""
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        for name in ("distributed", "dask"):
            logging.getLogger(name).setLevel(logging.ERROR)


def connect(scheduler: str) -> Any:
    """A client of the running scheduler ``scheduler``, checked for versions and workers."""
    from distributed import Client

    kwargs: dict[str, Any] = {}
    if scheduler.endswith(".json") and Path(scheduler).is_file():
        kwargs["scheduler_file"] = scheduler
        address = None
    else:
        address = scheduler if "://" in scheduler else f"tcp://{scheduler}"
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False, **kwargs)
    except (OSError, TimeoutError) as e:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT:.0f} s "
            f"({one_line(e)}); start one with `dask scheduler` and pass its address "
            "(tcp://HOST:8786) to --scheduler") from None
    except (ValueError, TypeError) as e:
        raise ClusterError(f"--scheduler {scheduler!r}: {one_line(e)}") from None
    try:
        check_versions(client)
        wait_for_workers(client, scheduler)
    except BaseException:
        client.close()
        raise
    return client


def check_versions(client: Any) -> None:
    """Dask's version check of client, scheduler and workers, surfaced as one line."""
    try:
        client.get_versions(check=True)
    except ValueError as e:
        raise ClusterError(f"Dask versions differ between this client, the scheduler and the "
                           f"workers: {one_line(e)}") from None


def wait_for_workers(client: Any, scheduler: str, timeout: float = WORKERS_TIMEOUT) -> None:
    """At least one worker, or a clear error (tasks sent to an empty cluster wait forever)."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise ClusterError(f"the Dask scheduler at {scheduler} has no workers after "
                           f"{timeout:.0f} s; start some with `dask worker {scheduler}`") from None


def check_readable(client: Any, path: str | Path, what: str) -> None:
    """Every worker can read ``path`` (a folder the job loads on the workers), else the error
    naming the path and the workers that cannot."""
    answers = client.run(_readable, str(path))
    bad = sorted(addr for addr, ok in answers.items() if not ok)
    if bad:
        raise ClusterError(
            f"{what} {path} cannot be read on Dask worker(s) {', '.join(bad)}: it must be on a "
            "filesystem every worker mounts at the same path (see README, Scaling out)")


def _readable(path: str) -> bool:
    """Runs on a worker."""
    return os.path.isdir(path) and os.access(path, os.R_OK | os.X_OK)


def worker_host() -> str:
    """This machine's name, for error messages raised on a worker."""
    return socket.gethostname()
