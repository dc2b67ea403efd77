"""Run the app under gunicorn from Python (``nlpsvc serve``), no shell quoting involved.

Each worker builds its own app, so models are loaded once per worker process at start-up
(n-gram arrays and gensim vectors are memory-mapped, so workers share their pages).

Defaults: one sync worker per core, no threads. Requests are CPU-bound Python, so threads only
add GIL hand-offs: on 2 cores, 2 x 4 gthread served /score no faster than 2 x 1 sync, with a
3x worse p99 and erratic rounds (BENCHMARKS.md, service section). The sync worker is
``worker.BufferedSyncWorker``: it reads each request in full without blocking before running
the app, so clients that send slowly cannot hold a worker (issue 14). ``--threads`` > 1 uses
gunicorn's gthread worker, which does not have that protection.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from nlpsvc.service import create_app, gunicorn_errors
from nlpsvc.service.auth import configured_tokens
from nlpsvc.service.metrics import MULTIPROC_ENV, mark_dead

DEFAULT_WORKERS = os.cpu_count() or 2
DEFAULT_THREADS = 1
DEFAULT_RELOAD_INTERVAL = 2.0  # seconds between polls of each CURRENT (reload.py)
# the sync worker's request handling, with slow clients waiting in a selector (worker.py)
SLOW_CLIENT_SAFE_WORKER = "nlpsvc.service.worker.BufferedSyncWorker"


class _Gunicorn(BaseApplication):
    def __init__(self, app_config: dict[str, Any], options: dict[str, Any]) -> None:
        self.app_config = app_config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        gunicorn_errors.install()  # in the master, so every forked worker has it
        for key, value in self.options.items():
            if value is not None and key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):  # noqa: ANN201 - the WSGI app
        _share_gunicorn_log()
        return create_app(self.app_config)


def serve(
    models: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    default_model: str | None = None,
    timeout: int = 60,
    tokens_file: str | None = None,
    reload_interval: float = DEFAULT_RELOAD_INTERVAL,
) -> None:
    """Serve ``models`` on ``host:port`` until interrupted.

    Tokens are checked here, in the master, so a bad tokens file stops the server before any
    worker starts (``auth.TokenConfigError`` naming the line) instead of failing every boot.
    """
    app_config: dict[str, Any] = {"MODELS_DIR": models, "DEFAULT_MODEL": default_model,
                                  "RELOAD_INTERVAL": reload_interval}
    if tokens_file:
        app_config["TOKENS_FILE"] = tokens_file
    configured_tokens(app_config)  # raises TokenConfigError
    metrics_dir()
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": SLOW_CLIENT_SAFE_WORKER if threads == 1 else "gthread",
        "timeout": timeout,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "child_exit": _child_exit,
    }
    _Gunicorn(app_config, options).run()


def metrics_dir() -> Path:
    """The folder where every worker's metrics live (prometheus-client multi-process mode).

    Set before any worker imports prometheus-client. A folder given in the environment is
    emptied of the last run's ``*.db`` files (stale counts would add up); otherwise a fresh
    temporary one is made and removed when the server exits.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return path
    path = Path(tempfile.mkdtemp(prefix="nlpsvc-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    master = os.getpid()
    atexit.register(lambda: os.getpid() == master and shutil.rmtree(path, ignore_errors=True))
    return path


def _share_gunicorn_log() -> None:
    """The service's own log records (a model not loaded, a hot reload swap or refusal) go to
    gunicorn's error log, with its format and level, instead of Python's last-resort stderr."""
    source = logging.getLogger("gunicorn.error")
    target = logging.getLogger("nlpsvc")
    if source.handlers and not target.handlers:
        target.handlers = list(source.handlers)
        target.setLevel(source.level or logging.INFO)
        target.propagate = False


def _child_exit(server: Any, worker: Any) -> None:
    """A worker exited: its live gauges (model_info) stop counting."""
    mark_dead(worker.pid)
