"""``POST /score``: log10 probability and perplexity of texts under a language model (SPEC §4)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from nlpsvc import kinds
from nlpsvc.scoring import LanguageModel
from nlpsvc.service import registry
from nlpsvc.service.errors import ApiError, json_body, texts_field
from nlpsvc.service.errors import field as get_field

bp = Blueprint("score", __name__)

LM_KINDS = kinds.LM_KINDS  # mix: the set's lstm and ngram models interpolated


def _lm_kind(value: str) -> str | None:
    return None if value in LM_KINDS else f"must be one of {', '.join(LM_KINDS)}"


@bp.post("/score")
def score():  # noqa: ANN201
    body = json_body()
    texts = texts_field(body)
    kind = get_field(body, "kind", str, default="ngram", check=_lm_kind)
    per_token = get_field(body, "per_token", bool, default=False)
    model = get_field(body, "model", str, default=None)
    if kind == "mix":
        name, lm = _mix(model)
    else:
        name, loaded = registry().get(kind, model)
        lm = LanguageModel(model=loaded.model, tokenizer=loaded.tokenizer,
                           artifact=loaded.artifact)
    return jsonify({"model": name, "kind": kind, "version": lm.artifact.version,
                    "results": lm.score_texts(texts, per_token=per_token)})


def _mix(model: str | None) -> tuple[str, LanguageModel]:
    """The set's LSTM and n-gram models interpolated with the LSTM manifest's λ; 503 naming
    whichever model is not loaded. The version reported is the LSTM's (it holds λ)."""
    reg = registry()
    name = model if model is not None else reg.default_name("lstm")
    if name not in reg.sets:
        reg.get("lstm", name)  # the 404 for an unknown set
    loaded = reg.sets[name]
    missing = [k for k in ("lstm", "ngram") if k not in loaded]
    if missing:
        raise ApiError(503, "model_unavailable", f"kind mix needs the lstm and ngram models of "
                       f"{name!r}; not loaded: {', '.join(missing)}")
    from nlpsvc.lstm import mix_model  # torch is imported only where an LSTM is loaded

    lstm, ngram = loaded["lstm"], loaded["ngram"]
    try:
        mixed = mix_model(lstm.model, lstm.artifact, ngram.model, ngram.artifact)
    except ValueError as e:
        raise ApiError(503, "model_unavailable", str(e)) from e
    return name, LanguageModel(model=mixed, tokenizer=lstm.tokenizer, artifact=lstm.artifact)


_TOKEN = {
    "type": "object",
    "properties": {
        "token": {"type": "string"},
        "log10_prob": {"type": "number", "nullable": True},
        "ngram_order": {"type": "integer"},
        "oov": {"type": "boolean"},
    },
}
_RESULT = {
    "type": "object",
    "required": ["text", "tokens", "log10_prob", "perplexity", "oov"],
    "properties": {
        "text": {"type": "string"},
        "tokens": {"type": "integer", "description": "tokens scored, sentence end included"},
        "log10_prob": {"type": "number", "nullable": True,
                       "description": "log10 P(text); null when zero (unsmoothed models)"},
        "perplexity": {"type": "number", "nullable": True},
        "oov": {"type": "integer", "description": "words not in the vocabulary"},
        "per_token": {"type": "array", "items": _TOKEN},
    },
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}

OPENAPI_PATHS = {
    "/score": {
        "post": {
            "summary": "Score texts with a language model (log10 probability, perplexity).",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "maxLength": 10000},
                        "texts": {"type": "array", "maxItems": 1000,
                                  "items": {"type": "string", "maxLength": 10000}},
                        "kind": {"type": "string", "enum": list(LM_KINDS), "default": "ngram",
                                 "description": "mix: the set's lstm and ngram models "
                                                "interpolated per token (503 unless both are "
                                                "loaded)"},
                        "per_token": {"type": "boolean", "default": False},
                        "model": {"type": "string", "description": "model set (corpus) name"},
                    },
                }}},
            },
            "responses": {
                "200": {"description": "one result per text, in order",
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {
                                "model": {"type": "string"},
                                "kind": {"type": "string"},
                                "version": {"type": "string"},
                                "results": {"type": "array", "items": _RESULT},
                            },
                        }}}},
                **{code: {"description": desc, "content": _ERROR} for code, desc in (
                    ("400", "malformed JSON"), ("404", "unknown model"),
                    ("413", "body too large"), ("415", "not application/json"),
                    ("422", "missing or invalid field"), ("503", "no model of this kind"),
                )},
            },
        }
    }
}
