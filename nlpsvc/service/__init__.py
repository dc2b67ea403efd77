"""The Flask service: an app factory with one blueprint per model family."""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask, current_app

from nlpsvc import kinds
from nlpsvc.service import auth, errors
from nlpsvc.service.jsonio import JSONProvider
from nlpsvc.service.registry import Registry

# Blueprint modules, each exposing ``bp`` (and ``OPENAPI_PATHS`` for /openapi.json): the
# service's own, then each model family's (declared in nlpsvc.kinds).
BLUEPRINTS = (
    "nlpsvc.service.page",
    "nlpsvc.service.meta",
    "nlpsvc.service.metrics",
    *kinds.blueprints(),
)

DEFAULTS: dict[str, Any] = {
    "MODELS_DIR": "models",
    "DEFAULT_MODEL": None,
    "MAX_CONTENT_LENGTH": 1 << 20,  # 1 MiB request bodies (413 above)
    "MAX_TEXTS": 1000,
    "MAX_TEXT_CHARS": 10_000,
    "REGISTRY": None,  # a ready Registry (tests); otherwise loaded from MODELS_DIR
    "API_TOKENS": None,  # a list of tokens; else env NLPSVC_API_TOKENS="a,b" (auth.py)
    "TOKENS_FILE": None,  # one token per line (--tokens-file)
    "METRICS": True,  # count requests for /metrics (metrics.py)
    "REQUEST_LOG": "-",  # one JSON line per request: "-" stderr, a file, "off" (reqlog.py)
    "RELOAD_INTERVAL": 0,  # seconds between CURRENT polls; 0: off (nlpsvc serve: 2; reload.py)
}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; models are loaded here, once, not per request."""
    app = Flask(__name__)
    app.json = JSONProvider(app)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("NLPSVC")  # e.g. NLPSVC_MAX_TEXTS=500
    if config:
        app.config.from_mapping(config)
    tokens = auth.configured_tokens(app.config)  # a bad tokens setting fails before loading
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
    auth.init_app(app, tokens)
    _observe(app, registry)
    return app


def _observe(app: Flask, registry: Registry) -> None:
    """Metrics, request log and request ids around the app; the hot-reload poller."""
    from nlpsvc.service.metrics import metrics
    from nlpsvc.service.observe import Observe
    from nlpsvc.service.reload import Reloader
    from nlpsvc.service.reqlog import RequestLog, log_target

    counts = metrics() if app.config["METRICS"] else None
    if counts is not None:
        for name, kinds in registry.sets.items():
            for kind, loaded in kinds.items():
                counts.serving(name, kind, loaded.artifact.version)
    setting = app.config["REQUEST_LOG"]  # "-", a path, "off", or a RequestLog / stream
    if isinstance(setting, RequestLog) or hasattr(setting, "write"):
        log = setting if isinstance(setting, RequestLog) else RequestLog(setting)
    else:
        target = log_target(setting)
        log = RequestLog(target) if target else None
    fixed = [rule.rule for rule in app.url_map.iter_rules() if not rule.arguments]
    app.wsgi_app = Observe(app.wsgi_app, fixed, counts, log)  # type: ignore[method-assign]
    interval = float(app.config["RELOAD_INTERVAL"] or 0)
    if interval > 0 and registry.root is not None:
        reloader = Reloader(registry, on_swap=counts.serving if counts else None)
        reloader.start(interval)
        app.extensions["nlpsvc.reload"] = reloader


def registry() -> Registry:
    """The current app's model registry (inside a request)."""
    return current_app.extensions["nlpsvc"]
