"""``POST /score``: log10 probability and perplexity of texts under a language model (SPEC §4).

The request and response are declared in ``schema.py`` (validation and /openapi.json).
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from nlpsvc import kinds
from nlpsvc.scoring import LanguageModel
from nlpsvc.service import registry
from nlpsvc.service.errors import ApiError
from nlpsvc.service.reqlog import note
from nlpsvc.service.schema import parse

bp = Blueprint("score", __name__)

LM_KINDS = kinds.LM_KINDS  # mix: the set's lstm and ngram models interpolated
MIX = kinds.derived("mix")  # its needs: the families a set must have loaded
assert MIX is not None


@bp.post("/score")
def score():  # noqa: ANN201
    req = parse("/score")  # the request as declared in schema.py (422 otherwise)
    texts = [req.text] if req.text is not None else req.texts
    note(texts=len(texts))  # the request log's and metrics' text count
    kind = req.kind
    if kind == "mix":
        name, lm = _mix(req.model)
    else:
        name, loaded = registry().get(kind, req.model)
        lm = LanguageModel(model=loaded.model, tokenizer=loaded.tokenizer,
                           artifact=loaded.artifact)
    return jsonify({"model": name, "kind": kind, "version": lm.artifact.version,
                    "results": lm.score_texts(texts, per_token=req.per_token)})


def _mix(model: str | None) -> tuple[str, LanguageModel]:
    """The set's LSTM and n-gram models interpolated with the LSTM manifest's λ; 503 naming
    whichever model is not loaded. The version reported is the LSTM's (it holds λ)."""
    reg = registry()
    name = model if model is not None else reg.default_name("lstm")
    if name not in reg.sets:
        reg.get("lstm", name)  # the 404 for an unknown set
    loaded = reg.sets[name]
    needs = MIX.needs
    missing = [k for k in needs if k not in loaded]
    if missing:
        raise ApiError(503, "model_unavailable", f"kind mix needs the {' and '.join(needs)} "
                       f"models of {name!r}; not loaded: {', '.join(missing)}")
    from nlpsvc.lstm import mix_model  # torch is imported only where an LSTM is loaded

    lstm, ngram = loaded["lstm"], loaded["ngram"]
    try:
        mixed = mix_model(lstm.model, lstm.artifact, ngram.model, ngram.artifact)
    except ValueError as e:
        raise ApiError(503, "model_unavailable", str(e)) from e
    return name, LanguageModel(model=mixed, tokenizer=lstm.tokenizer, artifact=lstm.artifact)
