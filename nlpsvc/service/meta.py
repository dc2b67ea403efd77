"""Service-level endpoints: /health, /ready, /models, /openapi.json."""

from __future__ import annotations

import importlib

from flask import Blueprint, current_app, jsonify

from nlpsvc import __version__
from nlpsvc.service import BLUEPRINTS, registry

bp = Blueprint("meta", __name__)

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string", "nullable": True},
            },
        }
    },
}


def _simple(summary: str) -> dict:
    return {
        "get": {
            "summary": summary,
            "responses": {"200": {"description": "OK",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        }
    }


OPENAPI_PATHS = {
    "/health": _simple("Liveness: the process answers."),
    "/ready": {
        "get": {
            "summary": "Readiness: models are loaded.",
            "responses": {
                "200": {"description": "ready",
                        "content": {"application/json": {"schema": {"type": "object"}}}},
                "503": {"description": "no model loaded",
                        "content": {"application/json": {"schema": {"type": "object"}}}},
            },
        }
    },
    "/models": _simple("Each loaded model's manifest summary."),
    "/openapi.json": _simple("This OpenAPI 3 description."),
}


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
        {"model": name, **loaded.artifact.summary()}
        for name, kinds in sorted(reg.sets.items())
        for loaded in kinds.values()
    ]
    return jsonify({"default": reg.default, "models": out})


@bp.get("/openapi.json")
def openapi():  # noqa: ANN201
    paths: dict = {}
    for name in BLUEPRINTS:
        module = importlib.import_module(name) if name in _registered() else None
        if module is not None:
            paths.update(getattr(module, "OPENAPI_PATHS", {}))
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "nlpsvc", "version": __version__,
                 "description": "NLP text models as a service. Log probabilities are log10."},
        "paths": paths,
        "components": {"schemas": {"Error": ERROR_SCHEMA}},
    }
    if current_app.extensions.get("nlpsvc.auth"):
        _bearer(spec)
    return jsonify(spec)


def _bearer(spec: dict) -> None:
    """With API tokens on (auth.py): every POST needs the Bearer token and may answer 401."""
    spec["components"]["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    unauthorized = {"description": "missing or invalid API token (WWW-Authenticate says which)",
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}}
    paths = {}
    for path, ops in spec["paths"].items():
        paths[path] = dict(ops)
        if "post" in ops:
            paths[path]["post"] = {**ops["post"], "security": [{"bearerAuth": []}],
                                   "responses": {**ops["post"]["responses"],
                                                 "401": unauthorized}}
    spec["paths"] = paths


def _registered() -> set[str]:
    return {bp.import_name for bp in current_app.blueprints.values()}
