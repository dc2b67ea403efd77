"""Run the app under gunicorn from Python (``nlpsvc serve``), no shell quoting involved.

Each worker builds its own app, so models are loaded once per worker process at start-up
(n-gram arrays and gensim vectors are memory-mapped, so workers share their pages).
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from nlpsvc.service import create_app


class _Gunicorn(BaseApplication):
    def __init__(self, app_config: dict[str, Any], options: dict[str, Any]) -> None:
        self.app_config = app_config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if value is not None and key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):  # noqa: ANN201 - the WSGI app
        return create_app(self.app_config)


def serve(
    models: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 2,
    threads: int = 4,
    default_model: str | None = None,
    timeout: int = 60,
) -> None:
    """Serve ``models`` on ``host:port`` until interrupted."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": timeout,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
    }
    _Gunicorn({"MODELS_DIR": models, "DEFAULT_MODEL": default_model}, options).run()
