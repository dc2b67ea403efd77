"""``POST /similar``: nearest words, analogies and pair similarity over word embeddings.

One request asks one of three things (SPEC §4):

* ``{"word": "king", "topn": 10, "vector": false}`` — nearest neighbours (optionally the vector);
* ``{"positive": ["king", "woman"], "negative": ["man"], "topn": 10}`` — analogy (gensim's
  cosine rule: mean of unit vectors, negatives subtracted);
* ``{"pairs": [["cup", "mug"], ...]}`` — cosine similarity of each pair.

``"oov": true`` says an answer used a word never seen in training (fastText builds its vector
from character n-grams); a word2vec model answers such a word with 404 ``unknown_word``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from nlpsvc.service import registry
from nlpsvc.service.errors import ApiError, field, int_range, json_body

bp = Blueprint("similar", __name__)

MAX_TOPN = 1000  # app.config["MAX_TOPN"] overrides
MAX_WORDS = 100  # words in positive + negative
MAX_WORD_CHARS = 256
MODES = ("word", "positive", "pairs")


@bp.record_once
def _pin_threads(state: Any) -> None:
    """Pin BLAS to one thread per worker when this process serves embeddings (see model.py)."""
    reg = state.app.extensions.get("nlpsvc")
    if reg is not None and any("embeddings" in kinds for kinds in reg.sets.values()):
        from nlpsvc.embeddings import pin_threads

        pin_threads()


def _word(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ApiError(422, "invalid_type", f"field '{name}' must be a string", name)
    if not value.strip():
        raise ApiError(422, "invalid_value", f"field '{name}' must not be empty", name)
    if len(value) > MAX_WORD_CHARS:
        raise ApiError(
            422, "invalid_value", f"field '{name}' exceeds {MAX_WORD_CHARS} characters", name
        )
    if not value.isascii():
        try:  # JSON allows a lone surrogate ("\ud800"); no vocabulary or n-gram hash does
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(422, "invalid_value", f"field '{name}' is not valid Unicode "
                           "(a lone surrogate)", name) from None
    return value


def _words(body: dict[str, Any], name: str, required: bool) -> list[str]:
    if name not in body and not required:
        return []
    values = field(body, name, list)
    if not values and required:
        raise ApiError(422, "invalid_value", f"field '{name}' must not be empty", name)
    return [_word(v, f"{name}[{i}]") for i, v in enumerate(values)]


def _unknown(e: Any) -> ApiError:
    return ApiError(404, "unknown_word", str(e), e.where)


@bp.post("/similar")
def similar():  # noqa: ANN201
    from nlpsvc.embeddings import UnknownWord

    body = json_body()
    name, loaded = registry().get("embeddings", field(body, "model", str, default=None))
    model = loaded.model
    modes = [m for m in MODES if m in body]
    if "negative" in body and "positive" not in body:
        modes.append("negative")
    if len(modes) != 1:
        raise ApiError(
            422, "missing_field" if not modes else "invalid_value",
            "give exactly one of 'word', 'positive' (with optional 'negative') or 'pairs'",
            modes[0] if modes else "word",
        )
    max_topn = int(current_app.config.get("MAX_TOPN", MAX_TOPN))
    topn = field(body, "topn", int, default=10, check=int_range(1, max_topn))
    out: dict[str, Any] = {"model": name}
    try:
        if modes[0] == "word":
            word = _word(field(body, "word", str), "word")
            want_vector = field(body, "vector", bool, default=False)
            results, oov = model.most_similar([word], topn=topn, where=["word"])
            if want_vector:
                out["vector"] = [round(float(x), 6) for x in model.vector(word)[0]]
        elif modes[0] in ("positive", "negative"):
            positive = _words(body, "positive", required=True)
            negative = _words(body, "negative", required=False)
            if len(positive) + len(negative) > MAX_WORDS:
                raise ApiError(422, "invalid_value",
                               f"at most {MAX_WORDS} words in 'positive' and 'negative'",
                               "positive")
            where = [f"positive[{i}]" for i in range(len(positive))]
            where += [f"negative[{i}]" for i in range(len(negative))]
            results, oov = model.most_similar(positive, negative, topn=topn, where=where)
        else:
            return jsonify({**out, **_pairs(body, model)})
    except UnknownWord as e:
        raise _unknown(e) from None
    out["results"] = [{"word": r.word, "score": round(r.score, 6)} for r in results]
    out["oov"] = oov
    return jsonify(out)


def _pairs(body: dict[str, Any], model: Any) -> dict[str, Any]:
    pairs = field(body, "pairs", list)
    limit = int(current_app.config["MAX_TEXTS"])
    if not pairs:
        raise ApiError(422, "invalid_value", "field 'pairs' must not be empty", "pairs")
    if len(pairs) > limit:
        raise ApiError(422, "too_many_texts", f"at most {limit} pairs per request", "pairs")
    results, any_oov = [], False
    for i, pair in enumerate(pairs):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ApiError(422, "invalid_type", f"field 'pairs[{i}]' must be [word, word]",
                           f"pairs[{i}]")
        a, b = (_word(w, f"pairs[{i}][{j}]") for j, w in enumerate(pair))
        score, oov = model.similarity(a, b, where=[f"pairs[{i}][0]", f"pairs[{i}][1]"])
        any_oov |= oov
        results.append({"words": [a, b], "score": round(score, 6), "oov": oov})
    return {"results": results, "oov": any_oov}


_WORD = {"type": "string", "minLength": 1, "maxLength": MAX_WORD_CHARS}
_WORDS = {"type": "array", "items": _WORD, "maxItems": MAX_WORDS}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}

OPENAPI_PATHS = {
    "/similar": {
        "post": {
            "summary": "Nearest words, analogies or pair similarity (word embeddings).",
            "description": (
                "Give exactly one of `word`, `positive` (with optional `negative`) or `pairs`. "
                "Scores are cosine similarities. fastText models answer unseen words from "
                "character n-grams and set `oov`; word2vec models answer them with 404 "
                "`unknown_word`."
            ),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {
                        "model": {"type": "string", "description": "model set (corpus name)"},
                        "word": _WORD,
                        "vector": {"type": "boolean", "default": False,
                                   "description": "with `word`: also return its vector"},
                        "positive": {**_WORDS, "minItems": 1},
                        "negative": _WORDS,
                        "pairs": {"type": "array", "minItems": 1, "items": {
                            "type": "array", "items": _WORD, "minItems": 2, "maxItems": 2}},
                        "topn": {"type": "integer", "minimum": 1, "maximum": MAX_TOPN,
                                 "default": 10},
                    },
                }}},
            },
            "responses": {
                "200": {"description": "neighbours (word, positive) or pair scores (pairs)",
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "required": ["model", "results", "oov"],
                            "properties": {
                                "model": {"type": "string"},
                                "oov": {"type": "boolean"},
                                "vector": {"type": "array", "items": {"type": "number"}},
                                "results": {"type": "array", "items": {
                                    "type": "object",
                                    "properties": {
                                        "word": {"type": "string"},
                                        "words": {"type": "array",
                                                  "items": {"type": "string"}},
                                        "score": {"type": "number"},
                                        "oov": {"type": "boolean"},
                                    },
                                }},
                            },
                        }}}},
                "404": {"description": "unknown model set or unknown word (word2vec)",
                        "content": _ERROR},
                "415": {"description": "not JSON", "content": _ERROR},
                "422": {"description": "missing or invalid field", "content": _ERROR},
                "503": {"description": "no embeddings model loaded", "content": _ERROR},
            },
        }
    }
}
