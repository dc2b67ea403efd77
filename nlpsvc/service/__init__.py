"""The Flask service: an app factory with one blueprint per model family."""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask, current_app

from nlpsvc.service import errors
from nlpsvc.service.jsonio import JSONProvider
from nlpsvc.service.registry import Registry

# Blueprint modules, each exposing ``bp`` (and ``OPENAPI_PATHS`` for /openapi.json).
BLUEPRINTS = (
    "nlpsvc.service.meta",
    "nlpsvc.service.score",
    "nlpsvc.service.similar",
    "nlpsvc.service.classify",
    "nlpsvc.service.reply",
)

DEFAULTS: dict[str, Any] = {
    "MODELS_DIR": "models",
    "DEFAULT_MODEL": None,
    "MAX_CONTENT_LENGTH": 1 << 20,  # 1 MiB request bodies (413 above)
    "MAX_TEXTS": 1000,
    "MAX_TEXT_CHARS": 10_000,
    "REGISTRY": None,  # a ready Registry (tests); otherwise loaded from MODELS_DIR
}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; models are loaded here, once, not per request."""
    app = Flask(__name__)
    app.json = JSONProvider(app)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("NLPSVC")  # e.g. NLPSVC_MAX_TEXTS=500
    if config:
        app.config.from_mapping(config)
    registry = app.config["REGISTRY"] or Registry.from_dir(
        app.config["MODELS_DIR"], default=app.config["DEFAULT_MODEL"]
    )
    app.extensions["nlpsvc"] = registry
    errors.init_app(app)
    for name in BLUEPRINTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:  # a real import error inside an existing blueprint
                raise
            continue  # family not built yet
        app.register_blueprint(module.bp)
    return app


def registry() -> Registry:
    """The current app's model registry (inside a request)."""
    return current_app.extensions["nlpsvc"]
