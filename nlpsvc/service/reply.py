"""``POST /reply``: the chatbot's answer to a message (SPEC §4).

``{"message": "...", "history": [...], "beam": 5, "n_best": 1, "max_len": 30, "sampling": null}``.
``beam`` 1 is greedy search; ``sampling`` (``temperature``, ``top_k``, ``top_p``, ``seed``) draws
``n_best`` replies instead of searching; ``anti_lm`` / ``anti_lm_steps`` rank the searches by the
MMI-antiLM objective (fewer generic replies). A message longer than the model's maximum source
length is cut to its last tokens (as in training) and the response says so (``truncated`` +
``notice``). The request and response are declared in ``schema.py``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from nlpsvc.service import registry
from nlpsvc.service.schema import parse

bp = Blueprint("reply", __name__)


@bp.post("/reply")
def reply():  # noqa: ANN201
    req = parse("/reply")  # the request as declared in schema.py (422 otherwise)
    name, loaded = registry().get("chatbot", req.model)
    sampling = None if req.sampling is None else req.sampling.model_dump()
    out = loaded.model.reply(
        req.message, req.history, beam=req.beam, n_best=req.n_best, max_len=req.max_len,
        min_len=req.min_len, sampling=sampling, no_repeat_ngram=req.no_repeat_ngram,
        anti_lm=req.anti_lm, anti_lm_steps=req.anti_lm_steps, return_attention=req.attention)
    resp: dict[str, Any] = {
        "model": name,
        "reply": out.text,
        "alternatives": out.alternatives,
        "truncated": out.truncated,
        "source_tokens": out.source_tokens,
        "max_source_tokens": out.max_src_len,
        "history_used": out.history_turns,
    }
    if out.truncated:
        resp["notice"] = (f"message truncated to its last {out.max_src_len} tokens, the model's "
                          "maximum source length")
    if out.attention is not None:
        resp["attention"] = out.attention
    return jsonify(resp)
