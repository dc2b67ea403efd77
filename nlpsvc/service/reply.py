"""``POST /reply``: the chatbot's answer to a message (SPEC §4).

``{"message": "...", "history": [...], "beam": 5, "n_best": 1, "max_len": 30, "sampling": null}``.
``beam`` 1 is greedy search; ``sampling`` (``temperature``, ``top_k``, ``top_p``, ``seed``) draws
``n_best`` replies instead of searching; ``anti_lm`` / ``anti_lm_steps`` rank the searches by the
MMI-antiLM objective (fewer generic replies). A message longer than the model's maximum source
length is cut to its last tokens (as in training) and the response says so (``truncated`` +
``notice``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from nlpsvc.service import registry
from nlpsvc.service.errors import ApiError, field, int_range, json_body

bp = Blueprint("reply", __name__)

MAX_BEAM = 20
MAX_REPLY_LEN = 100
MAX_ANTI_LM = 5.0
MAX_SEED = 2**64 - 1  # torch.Generator.manual_seed overflows above

_ERROR = {"description": "error", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Error"}}}}
_SAMPLING = {
    "type": "object",
    "nullable": True,
    "description": "sample instead of searching; n_best replies are drawn",
    "additionalProperties": False,
    "properties": {
        "temperature": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                        "maximum": 10, "default": 1.0},
        "top_k": {"type": "integer", "minimum": 0, "default": 0,
                  "description": "keep the k most probable words (0 = all)"},
        "top_p": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 1,
                  "default": 1.0, "description": "nucleus: smallest set with this mass"},
        "seed": {"type": "integer", "nullable": True, "minimum": 0, "maximum": MAX_SEED,
                 "description": "same seed, same replies"},
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/reply": {
        "post": {
            "summary": "The chatbot's reply to a message.",
            "description": (
                "Beam search (beam 1 = greedy) or sampling. Scores are the natural-log "
                "probability of the reply (with </s>) divided by its length: higher is better, "
                "0 is the maximum. A message longer than the model's maximum source length is "
                "cut to its last tokens; 'truncated' and 'notice' say so."
            ),
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["message"],
                "properties": {
                    "message": {"type": "string", "minLength": 1},
                    "history": {"type": "array", "items": {"type": "string"},
                                "description": "earlier turns, oldest first; the model uses "
                                               "as many as it was trained with"},
                    "beam": {"type": "integer", "minimum": 1, "maximum": MAX_BEAM, "default": 5},
                    "n_best": {"type": "integer", "minimum": 1, "maximum": MAX_BEAM,
                               "default": 1, "description": "at most beam (when searching)"},
                    "max_len": {"type": "integer", "minimum": 1, "maximum": MAX_REPLY_LEN,
                                "description": "reply tokens; default the model's"},
                    "min_len": {"type": "integer", "minimum": 0, "maximum": MAX_REPLY_LEN},
                    "no_repeat_ngram": {"type": "integer", "minimum": 0, "maximum": 10},
                    "anti_lm": {"type": "number", "minimum": 0, "maximum": MAX_ANTI_LM,
                                "description": (
                                    "MMI-antiLM weight lambda (greedy and beam search; not with "
                                    "sampling): rank by log p(reply|message) - lambda * log "
                                    "p(first anti_lm_steps words), p from the decoder on an "
                                    "empty message, so replies likely whatever the message "
                                    "(\"i m not sure .\") lose. 0 = maximum likelihood; "
                                    "default the model's")},
                    "anti_lm_steps": {"type": "integer", "minimum": 0,
                                      "maximum": MAX_REPLY_LEN,
                                      "description": "the first words the anti-LM penalty "
                                                     "applies to (gamma); default the model's"},
                    "sampling": _SAMPLING,
                    "attention": {"type": "boolean", "default": False,
                                  "description": "return the best reply's attention weights"},
                    "model": {"type": "string", "description": "model set (corpus) name"},
                },
            }}}},
            "responses": {
                "200": {"description": "the reply and the n-best alternatives, best first",
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "required": ["model", "reply", "alternatives", "truncated"],
                            "properties": {
                                "model": {"type": "string"},
                                "reply": {"type": "string"},
                                "alternatives": {"type": "array", "items": {
                                    "type": "object", "required": ["text", "score"],
                                    "properties": {"text": {"type": "string"},
                                                   "score": {"type": "number"}}}},
                                "truncated": {"type": "boolean"},
                                "notice": {"type": "string"},
                                "source_tokens": {"type": "integer"},
                                "max_source_tokens": {"type": "integer"},
                                "history_used": {"type": "integer"},
                                "attention": {"type": "object", "properties": {
                                    "source": {"type": "array", "items": {"type": "string"}},
                                    "reply": {"type": "array", "items": {"type": "string"}},
                                    "weights": {"type": "array", "items": {
                                        "type": "array", "items": {"type": "number"}}},
                                }},
                            },
                        }}}},
                "400": _ERROR, "404": _ERROR, "413": _ERROR, "415": _ERROR, "422": _ERROR,
                "503": _ERROR,
            },
        }
    }
}


def _sampling(body: dict[str, Any]) -> dict[str, Any] | None:
    spec = field(body, "sampling", dict, default=None)
    if spec is None:
        return None
    unknown = sorted(set(spec) - {"temperature", "top_k", "top_p", "seed"})
    if unknown:
        raise ApiError(422, "invalid_value", f"unknown sampling option(s): {', '.join(unknown)}",
                       "sampling")

    def sub(name: str, types: type | tuple[type, ...], default: Any, check: Any = None) -> Any:
        try:
            return field(spec, name, types, default=default, check=check)
        except ApiError as e:
            raise ApiError(e.status, e.code, e.message.replace(f"'{name}'", f"'sampling.{name}'"),
                           f"sampling.{name}") from None

    return {
        "temperature": float(sub("temperature", (int, float), 1.0,
                                 lambda v: None if 0 < v <= 10 else "must be in (0, 10]")),
        "top_k": sub("top_k", int, 0, lambda v: None if v >= 0 else "must be >= 0"),
        "top_p": float(sub("top_p", (int, float), 1.0,
                           lambda v: None if 0 < v <= 1 else "must be in (0, 1]")),
        "seed": sub("seed", int, None, int_range(0, MAX_SEED)),
    }


@bp.post("/reply")
def reply():  # noqa: ANN201
    body = json_body()
    name, loaded = registry().get("chatbot", field(body, "model", str, default=None))
    bot = loaded.model
    limit = current_app.config["MAX_TEXT_CHARS"]
    not_long = lambda s: None if len(s) <= limit else f"exceeds {limit} characters"  # noqa: E731
    message = field(body, "message", str, check=lambda s: (
        "must not be empty" if not s.strip() else not_long(s)))
    history = field(body, "history", list, default=[])
    if len(history) > current_app.config["MAX_TEXTS"]:
        raise ApiError(422, "invalid_value", f"at most {current_app.config['MAX_TEXTS']} "
                       "history turns", "history")
    for i, turn in enumerate(history):
        if not isinstance(turn, str):
            raise ApiError(422, "invalid_type", f"field 'history[{i}]' must be a string",
                           f"history[{i}]")
        if msg := not_long(turn):
            raise ApiError(422, "invalid_value", f"field 'history[{i}]' {msg}", f"history[{i}]")
    beam = field(body, "beam", int, default=5, check=int_range(1, MAX_BEAM))
    sampling = _sampling(body)
    top = MAX_BEAM if sampling is not None else beam
    n_best = field(body, "n_best", int, default=1, check=lambda v: None if 1 <= v <= top else (
        f"must be between 1 and {top}" + ("" if sampling is not None else " (the beam width)")))
    max_len = field(body, "max_len", int, default=None, check=int_range(1, MAX_REPLY_LEN))
    min_len = field(body, "min_len", int, default=None, check=int_range(0, MAX_REPLY_LEN))
    if min_len is not None and max_len is not None and min_len > max_len:
        raise ApiError(422, "invalid_value", "field 'min_len' must not exceed max_len", "min_len")
    no_repeat = field(body, "no_repeat_ngram", int, default=None, check=int_range(0, 10))
    anti_lm = field(body, "anti_lm", (int, float), default=None,
                    check=lambda v: None if 0 <= v <= MAX_ANTI_LM
                    else f"must be between 0 and {MAX_ANTI_LM:g}")
    anti_steps = field(body, "anti_lm_steps", int, default=None,
                       check=int_range(0, MAX_REPLY_LEN))
    if sampling is not None and (anti_lm is not None or anti_steps is not None):
        name = "anti_lm" if anti_lm is not None else "anti_lm_steps"
        raise ApiError(422, "invalid_value", f"field '{name}' applies to search, not sampling",
                       name)
    attention = field(body, "attention", bool, default=False)

    out = bot.reply(message, history, beam=beam, n_best=n_best, max_len=max_len,
                    min_len=min_len, sampling=sampling, no_repeat_ngram=no_repeat,
                    anti_lm=None if anti_lm is None else float(anti_lm),
                    anti_lm_steps=anti_steps, return_attention=attention)
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
