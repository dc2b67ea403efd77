"""``POST /similar``: nearest words, analogies and pair similarity over word embeddings.

One request asks one of three things (SPEC §4):

* ``{"word": "king", "topn": 10, "vector": false}`` — nearest neighbours (optionally the vector);
* ``{"positive": ["king", "woman"], "negative": ["man"], "topn": 10}`` — analogy (gensim's
  cosine rule: mean of unit vectors, negatives subtracted);
* ``{"pairs": [["cup", "mug"], ...]}`` — cosine similarity of each pair.

``"oov": true`` says an answer used a word never seen in training (fastText builds its vector
from character n-grams); a word2vec model answers such a word with 404 ``unknown_word``. The
request and response are declared in ``schema.py``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from nlpsvc.service import registry
from nlpsvc.service.errors import ApiError
from nlpsvc.service.schema import parse

bp = Blueprint("similar", __name__)


@bp.record_once
def _pin_threads(state: Any) -> None:
    """Pin BLAS to one thread per worker when this process serves embeddings (see model.py)."""
    reg = state.app.extensions.get("nlpsvc")
    if reg is not None and any("embeddings" in kinds for kinds in reg.sets.values()):
        from nlpsvc.embeddings import pin_threads

        pin_threads()


@bp.post("/similar")
def similar():  # noqa: ANN201
    from nlpsvc.embeddings import UnknownWord

    req = parse("/similar")  # the request as declared in schema.py (422 otherwise)
    name, loaded = registry().get("embeddings", req.model)
    model = loaded.model
    out: dict[str, Any] = {"model": name}
    try:
        if req.word is not None:
            results, oov = model.most_similar([req.word], topn=req.topn, where=["word"])
            if req.vector:
                out["vector"] = [round(float(x), 6) for x in model.vector(req.word)[0]]
        elif req.positive is not None:
            negative = req.negative or []
            where = [f"positive[{i}]" for i in range(len(req.positive))]
            where += [f"negative[{i}]" for i in range(len(negative))]
            results, oov = model.most_similar(req.positive, negative, topn=req.topn,
                                              where=where)
        else:
            return jsonify({**out, **_pairs(req.pairs, model)})
    except UnknownWord as e:
        raise ApiError(404, "unknown_word", str(e), e.where) from None
    out["results"] = [{"word": r.word, "score": round(r.score, 6)} for r in results]
    out["oov"] = oov
    return jsonify(out)


def _pairs(pairs: list[list[str]], model: Any) -> dict[str, Any]:
    results, any_oov = [], False
    for i, (a, b) in enumerate(pairs):
        score, oov = model.similarity(a, b, where=[f"pairs[{i}][0]", f"pairs[{i}][1]"])
        any_oov |= oov
        results.append({"words": [a, b], "score": round(score, 6), "oov": oov})
    return {"results": results, "oov": any_oov}
