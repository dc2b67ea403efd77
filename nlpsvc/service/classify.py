"""``POST /classify``: the most probable labels of each text (SPEC §4).

``{"text": "..."}`` or ``{"texts": [...]}``, optional ``top_k`` (1..number of classes, default 1),
``variant`` (``linear``: TF-IDF + scikit-learn, ``fasttext``: the PyTorch model; default: the one
that was better on validation) and ``model``. An empty string is a client error (422); a
non-empty text that has no token left after tokenisation (e.g. only spaces) is classified from
the model's bias alone, i.e. its learnt class prior, and flagged ``"empty": true``.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from nlpsvc.service import registry
from nlpsvc.service.errors import ApiError
from nlpsvc.service.reqlog import note
from nlpsvc.service.schema import parse

bp = Blueprint("classify", __name__)

@bp.post("/classify")
def classify():  # noqa: ANN201
    req = parse("/classify")  # the request as declared in schema.py (422 otherwise)
    name, loaded = registry().get("classifier", req.model)
    model = loaded.model
    texts = [req.text] if req.text is not None else req.texts
    note(texts=len(texts))  # the request log's and metrics' text count
    # what depends on the model: the number of classes, the variants it was trained with
    n_classes = len(model.classes)
    if req.top_k > n_classes:
        raise ApiError(422, "invalid_value", f"field 'top_k' must be between 1 and {n_classes} "
                       "(the number of classes)", "top_k")
    variant = req.variant
    if variant is not None and variant not in model.variants:
        have = ", ".join(sorted(model.variants))
        raise ApiError(422, "invalid_value", f"variant {variant!r} was not trained for this "
                       f"model (have: {have})", "variant")
    results = model.classify(texts, top_k=req.top_k, variant=variant)
    return jsonify({"model": name, "variant": variant or model.default, "results": results})
