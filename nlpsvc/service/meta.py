"""Service-level endpoints: /health, /ready, /models, /openapi.json (responses declared in
``schema.py``)."""

from __future__ import annotations

import math
import sys
from typing import Any

from flask import Blueprint, current_app, jsonify

from nlpsvc import __version__
from nlpsvc.service import registry, schema

bp = Blueprint("meta", __name__)


@bp.get("/health")
def health():  # noqa: ANN201
    return jsonify({"status": "ok", "version": __version__})


@bp.get("/ready")
def ready():  # noqa: ANN201
    reg = registry()
    loaded = {name: sorted(kinds) for name, kinds in reg.sets.items() if kinds}
    body = {"ready": bool(loaded), "models": loaded, "errors": reg.errors}
    return jsonify(body), 200 if loaded else 503


@bp.get("/models")
def models():  # noqa: ANN201
    reg = registry()
    out = [
        {"model": name, **_finite(loaded.artifact.summary())}
        for name, kinds in sorted(reg.sets.items())
        for loaded in kinds.values()
    ]
    return jsonify({"default": reg.default, "models": out})


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as null: a manifest written by Python's json may hold
    them (an unsmoothed model's perplexity), and JSON cannot."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@bp.get("/openapi.json")
def openapi():  # noqa: ANN201
    """Generated from the declaration in schema.py, plus the non-JSON pages' own entries;
    built once per number of classes (hot reload may change it), ~10 ms."""
    counts = {len(kinds["classifier"].model.classes) for kinds in registry().sets.values()
              if "classifier" in kinds}
    classes = counts.pop() if len(counts) == 1 else None
    built = current_app.extensions.setdefault("nlpsvc.openapi", {})
    if classes not in built:
        extra: dict = {}
        for blueprint in current_app.blueprints.values():
            module = sys.modules.get(blueprint.import_name)
            extra.update(getattr(module, "OPENAPI_PATHS", {}))
        built[classes] = schema.openapi(current_app, extra, classes=classes)
    return jsonify(built[classes])
