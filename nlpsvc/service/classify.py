"""``POST /classify``: the most probable labels of each text (SPEC §4).

``{"text": "..."}`` or ``{"texts": [...]}``, optional ``top_k`` (1..number of classes, default 1),
``variant`` (``linear``: TF-IDF + scikit-learn, ``fasttext``: the PyTorch model; default: the one
that was better on validation) and ``model``. An empty string is a client error (422); a
non-empty text that has no token left after tokenisation (e.g. only spaces) is classified from
the model's bias alone, i.e. its learnt class prior, and flagged ``"empty": true``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from nlpsvc.service import registry
from nlpsvc.service.errors import ApiError, field, json_body, texts_field

bp = Blueprint("classify", __name__)

VARIANTS = ("linear", "fasttext")

_LABEL = {
    "type": "object",
    "required": ["label", "prob"],
    "properties": {"label": {"type": "string"},
                   "prob": {"type": "number", "minimum": 0, "maximum": 1}},
}
_ERROR = {"description": "error", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Error"}}}}

OPENAPI_PATHS: dict[str, Any] = {
    "/classify": {
        "post": {
            "summary": "Classify texts with the classifier of a model set.",
            "description": (
                "Give 'text' or 'texts'. Probabilities are a softmax over the classes (they sum "
                "to 1), or independent sigmoids for a multi-label model. 'empty' is true when a "
                "text had no token after tokenisation and was classified from the bias alone."
            ),
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "minLength": 1},
                    "texts": {"type": "array", "minItems": 1,
                              "items": {"type": "string", "minLength": 1}},
                    "top_k": {"type": "integer", "minimum": 1, "default": 1,
                              "description": "at most the number of classes"},
                    "variant": {"type": "string", "enum": list(VARIANTS),
                                "description": "default: the better one on validation"},
                    "model": {"type": "string", "description": "model set (corpus) name"},
                },
            }}}},
            "responses": {
                "200": {"description": "labels, best first", "content": {"application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["model", "variant", "results"],
                        "properties": {
                            "model": {"type": "string"},
                            "variant": {"type": "string", "enum": list(VARIANTS)},
                            "results": {"type": "array", "items": {
                                "type": "object",
                                "required": ["labels", "empty"],
                                "properties": {
                                    "labels": {"type": "array", "items": _LABEL},
                                    "empty": {"type": "boolean"},
                                },
                            }},
                        },
                    }}}},
                "400": _ERROR, "404": _ERROR, "413": _ERROR, "415": _ERROR, "422": _ERROR,
                "503": _ERROR,
            },
        }
    }
}


@bp.post("/classify")
def classify():  # noqa: ANN201
    body = json_body()
    name, loaded = registry().get("classifier", field(body, "model", str, default=None))
    model = loaded.model
    texts = texts_field(body)
    for i, t in enumerate(texts):
        if not t:
            where = "text" if "text" in body else f"texts[{i}]"
            raise ApiError(422, "invalid_value", f"field '{where}' must not be empty", where)
    n_classes = len(model.classes)
    top_k = field(body, "top_k", int, default=1, check=lambda k: None if 1 <= k <= n_classes
                  else f"must be between 1 and {n_classes} (the number of classes)")
    variant = field(body, "variant", str, default=None)
    if variant is not None and variant not in model.variants:
        have = ", ".join(sorted(model.variants))
        why = "was not trained for this model" if variant in VARIANTS else "is unknown"
        raise ApiError(422, "invalid_value", f"variant {variant!r} {why} (have: {have})",
                       "variant")
    results = model.classify(texts, top_k=top_k, variant=variant)
    return jsonify({"model": name, "variant": variant or model.default, "results": results})
