"""The HTTP API declared once (SPEC §4): each endpoint's request and response as pydantic models.

Both the request validation and ``GET /openapi.json`` (OpenAPI 3.1, whose schemas are JSON
Schema 2020-12) are generated from these models, so the two cannot disagree. Rules JSON Schema
can state are in the models and their generated schema: types, ranges, lengths, enums, and the
cross-field ones (exactly one of ``text`` / ``texts``; one of ``word`` / ``positive`` / ``pairs``;
``n_best`` <= ``beam``; no ``anti_lm`` with ``sampling``). Rules that
depend on the loaded model stay in the blueprints: ``top_k`` <= the number of classes, a
``variant`` that was trained, an unknown word (404), a kind not loaded (503), and the body's size
in bytes (413).

Bodies are parsed by the app's strict JSON provider (``errors.json_body``) and validated in
pydantic's Python mode with strict scalars: ``"3"`` is not an integer and ``true`` is not a
number, as before. ``null`` for an optional field means its default. A validation failure is
answered in SPEC §4's format with the codes the service always used (``missing_field``,
``invalid_type``, ``invalid_value``, ``too_many_texts``, ``text_too_long``), naming the field as
``texts[3]`` or ``sampling.seed``; the first error in field order is the one answered.

The limits that the app config sets (``MAX_TEXTS``, ``MAX_TEXT_CHARS``, ``MAX_TOPN``) are part of
the declaration, so the request models are built per set of limits (``models``, cached).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal

from flask import Flask, current_app
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from nlpsvc.service.errors import ApiError, json_body

REF = "#/components/schemas/{model}"

# /similar
MAX_TOPN = 1000  # app.config["MAX_TOPN"] overrides
MAX_WORDS = 100  # words in 'positive', and in 'negative'
MAX_WORD_CHARS = 256
# /reply
MAX_BEAM = 20
MAX_REPLY_LEN = 100
MAX_ANTI_LM = 5.0
MAX_SEED = 2**64 - 1  # torch.Generator.manual_seed overflows above
MAX_NO_REPEAT = 10
DEFAULT_BEAM = 5
VARIANTS = ("linear", "fasttext")


@dataclass(frozen=True)
class Limits:
    """The configurable limits (SPEC §4: 1,000 texts, 10,000 characters by default)."""

    max_texts: int = 1000
    max_text_chars: int = 10_000
    max_topn: int = MAX_TOPN

    @classmethod
    def of(cls, app: Flask) -> Limits:
        cfg = app.config
        return cls(int(cfg["MAX_TEXTS"]), int(cfg["MAX_TEXT_CHARS"]),
                   int(cfg.get("MAX_TOPN", MAX_TOPN)))


# -- building blocks --------------------------------------------------------------------------


def absent(**kw: Any) -> Any:
    """An optional field that may be left out but is not nullable (``null`` is a type error);
    its ``default: null`` is dropped from the schema (``_schema_extra``)."""
    return Field(default=None, **kw)


def _schema_extra(**extra: Any) -> Any:
    """A model's ``json_schema_extra``: ``extra`` merged in, and no ``default: null`` on a
    property that cannot be null (an ``absent`` one)."""

    def apply(schema: dict[str, Any]) -> None:
        for prop in schema.get("properties", {}).values():
            nullable = any(b.get("type") == "null" for b in prop.get("anyOf", ()))
            if "default" in prop and prop["default"] is None and not nullable:
                del prop["default"]
        schema.update(extra)

    return apply


def _fail(code: str, message: str, where: str | None = None) -> PydanticCustomError:
    """An error with the service's own code; ``message`` is whole (it names its field)."""
    return PydanticCustomError(code, message, {"field": where} if where else None)


# Whitespace to every reader of the schema: Python's str.isspace (the tokenizers), Unicode's
# White_Space (Rust regex: pydantic, jsonschema-rs, schemathesis) and ECMA-262's \s (browsers)
# disagree on \x1c-\x1f, \x85 and \ufeff, so the pattern names the union, character by character.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
              + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff")
NOT_BLANK = f"[^{WHITESPACE}]"  # some character that is not whitespace
_not_blank = re.compile(NOT_BLANK).search


def chars(max_length: int, *, min_length: int = 0, not_blank: bool = False,
          unicode: bool = False, too_long: str = "invalid_value") -> Any:
    """A string of at most ``max_length`` characters, checked here and stated in the schema.

    Checked in Python rather than by pydantic's string constraints, which refuse a lone
    surrogate (``"\\ud800"``: valid JSON, answered by /score and /classify) as not Unicode.
    ``not_blank``: some character that is not ``WHITESPACE`` (the same pattern in the schema);
    ``unicode``: no lone surrogate (words: no vocabulary or n-gram hash has one); ``too_long``:
    the error code when it is longer.
    """
    schema: dict[str, Any] = {"maxLength": max_length}
    if min_length or not_blank:
        schema["minLength"] = max(min_length, 1)
    if not_blank:
        schema["pattern"] = NOT_BLANK

    def check(value: str) -> str:
        if len(value) > max_length:
            raise PydanticCustomError(too_long, "exceeds {n} characters", {"n": max_length})
        if len(value) < min_length or not_blank and not _not_blank(value):
            raise PydanticCustomError("invalid_value", "must not be empty")
        if unicode and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise PydanticCustomError("invalid_value", "is not valid Unicode (a lone "
                                          "surrogate)") from None
        return value

    return Annotated[StrictStr, AfterValidator(check), Field(json_schema_extra=schema)]


Word = chars(MAX_WORD_CHARS, not_blank=True, unicode=True)


class Body(BaseModel):
    """A request body: a JSON object; unknown keys are ignored; ``null`` means the default.

    ``errors`` maps (field, pydantic error type) to the service's (code, message) where the
    generic answer is not the one the API always gave; ``[]`` in a field stands for any index.
    """

    model_config = ConfigDict(strict=True, extra="ignore", json_schema_extra=_schema_extra())
    errors: ClassVar[dict[tuple[str, str], tuple[str, str]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and None in data.values():
            fields = cls.model_fields
            return {k: v for k, v in data.items() if v is not None or k not in fields
                    or fields[k].is_required() or fields[k].default is None}
        return data


def _one_of(*names: str) -> list[dict[str, Any]]:
    return [{"required": [n]} for n in names]


# -- requests ---------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def models(limits: Limits) -> dict[str, type[Body]]:
    """The request models under ``limits``, by endpoint path."""
    from nlpsvc.service.score import LM_KINDS  # the LM kinds live with /score

    limit = limits.max_text_chars
    Text = chars(limit, too_long="text_too_long")
    Texts = Annotated[list[Text], Field(min_length=1, max_length=limits.max_texts)]
    Kind = Literal[LM_KINDS]  # type: ignore[valid-type]
    text_errors = {
        ("texts", "too_long"): ("too_many_texts", f"at most {limits.max_texts} texts per request"),
    }

    def one_text(cls: type[Body], data: Any) -> Any:
        if isinstance(data, dict):
            if "text" in data and "texts" in data:
                raise _fail("invalid_value", "give 'text' or 'texts', not both", "texts")
            if "text" not in data and "texts" not in data:
                raise _fail("missing_field", "field 'text' or 'texts' is required", "text")
        return data

    class ScoreRequest(Body):
        """Score texts with a language model: log10 probability and perplexity."""

        model_config = ConfigDict(json_schema_extra=_schema_extra(oneOf=_one_of("text", "texts")))
        errors = text_errors

        text: Text = absent()
        texts: Texts = absent()
        kind: Kind | None = Field("ngram", description=(
            "mix: the set's lstm and ngram models interpolated per token (503 unless both are "
            "loaded)"))
        per_token: StrictBool | None = False
        model: StrictStr | None = Field(None, description="model set (corpus) name")

        _one_text = model_validator(mode="before")(one_text)

    NonEmpty = chars(limit, min_length=1, too_long="text_too_long")

    class ClassifyRequest(Body):
        """Classify texts with a model set's classifier."""

        model_config = ConfigDict(json_schema_extra=_schema_extra(oneOf=_one_of("text", "texts")))
        errors = text_errors

        model: StrictStr | None = Field(None, description="model set (corpus) name")
        text: NonEmpty = absent()
        texts: Annotated[list[NonEmpty], Field(min_length=1, max_length=limits.max_texts)] = \
            absent()
        top_k: Annotated[StrictInt, Field(ge=1)] | None = Field(
            1, description="at most the number of classes")
        variant: Literal[VARIANTS] | None = Field(  # type: ignore[valid-type]
            None, description="default: the better one on validation")

        _one_text = model_validator(mode="before")(one_text)

    Pair = Annotated[list[Word], Field(min_length=2, max_length=2)]
    pair_msg = ("invalid_type", "field '{field}' must be [word, word]")

    class SimilarRequest(Body):
        """Nearest words, an analogy, or the similarity of word pairs."""

        model_config = ConfigDict(json_schema_extra=_schema_extra(oneOf=[
            {"required": ["word"], "not": {"anyOf": _one_of("positive", "negative", "pairs")}},
            {"required": ["positive"], "not": {"anyOf": _one_of("word", "pairs")}},
            {"required": ["pairs"], "not": {"anyOf": _one_of("word", "positive", "negative")}},
        ]))
        errors = {
            ("pairs", "too_long"): ("too_many_texts", f"at most {limits.max_texts} pairs per "
                                    "request"),
            ("pairs[]", "too_short"): pair_msg, ("pairs[]", "too_long"): pair_msg,
            ("pairs[]", "list_type"): pair_msg,
            ("positive", "too_long"): ("invalid_value", f"at most {MAX_WORDS} words in "
                                       "'positive'"),
            ("negative", "too_long"): ("invalid_value", f"at most {MAX_WORDS} words in "
                                       "'negative'"),
        }

        model: StrictStr | None = Field(None, description="model set (corpus) name")
        word: Word = absent()
        vector: StrictBool | None = Field(False, description="with 'word': also its vector")
        positive: Annotated[list[Word], Field(min_length=1, max_length=MAX_WORDS)] = absent()
        negative: Annotated[list[Word], Field(max_length=MAX_WORDS)] = absent(
            description="with 'positive' only")
        pairs: Annotated[list[Pair], Field(min_length=1, max_length=limits.max_texts)] = \
            absent()
        topn: Annotated[StrictInt, Field(ge=1, le=limits.max_topn)] | None = 10

        @model_validator(mode="before")
        @classmethod
        def _one_mode(cls, data: Any) -> Any:
            if isinstance(data, dict):
                modes = [m for m in ("word", "positive", "pairs") if m in data]
                if "negative" in data and "positive" not in data:
                    if not modes:
                        raise _fail("missing_field", "field 'positive' is required", "positive")
                    modes.append("negative")
                if len(modes) != 1:
                    raise _fail("missing_field" if not modes else "invalid_value",
                                "give exactly one of 'word', 'positive' (with optional "
                                "'negative') or 'pairs'", modes[0] if modes else "word")
            return data

    class Sampling(Body):
        """Sample instead of searching: ``n_best`` replies are drawn."""

        model_config = ConfigDict(extra="forbid")

        temperature: Annotated[StrictFloat, Field(gt=0, le=10)] | None = 1.0
        top_k: Annotated[StrictInt, Field(ge=0)] | None = Field(
            0, description="keep the k most probable words (0 = all)")
        top_p: Annotated[StrictFloat, Field(gt=0, le=1)] | None = Field(
            1.0, description="nucleus: the smallest set with this mass")
        seed: Annotated[StrictInt, Field(ge=0, le=MAX_SEED)] | None = Field(
            None, description="same seed, same replies")

    Turn = chars(limit)
    Len = Annotated[StrictInt, Field(ge=1, le=MAX_REPLY_LEN)]
    MinLen = Annotated[StrictInt, Field(ge=0, le=MAX_REPLY_LEN)]

    class ReplyRequest(Body):
        """The chatbot's reply to a message: beam search (beam 1 = greedy) or sampling."""

        model_config = ConfigDict(json_schema_extra=_schema_extra(allOf=_reply_rules()))
        errors = {
            ("history", "too_long"): ("invalid_value",
                                      f"at most {limits.max_texts} history turns"),
        }

        model: StrictStr | None = Field(None, description="model set (corpus) name")
        message: chars(limit, not_blank=True)
        history: Annotated[list[Turn], Field(max_length=limits.max_texts)] | None = Field(
            [], description="earlier turns, oldest first; the model uses as many as it was "
            "trained with")
        beam: Annotated[StrictInt, Field(ge=1, le=MAX_BEAM)] | None = DEFAULT_BEAM
        sampling: Sampling | None = None
        n_best: Annotated[StrictInt, Field(ge=1, le=MAX_BEAM)] | None = Field(
            1, description="at most beam (when searching)")
        max_len: Len | None = Field(None, description="reply tokens; default the model's")
        min_len: MinLen | None = Field(None, description=(
            "reply tokens before </s> may end it; default the model's. Above max_len: the reply "
            "has max_len tokens (as with the model's own max_len)"))
        no_repeat_ngram: Annotated[StrictInt, Field(ge=0, le=MAX_NO_REPEAT)] | None = None
        anti_lm: Annotated[StrictFloat, Field(ge=0, le=MAX_ANTI_LM)] | None = Field(
            None, description=(
                "MMI-antiLM weight lambda (greedy and beam search; not with sampling): rank by "
                "log p(reply|message) - lambda * log p(first anti_lm_steps words), p from the "
                "decoder on an empty message, so replies likely whatever the message lose. "
                "0 = maximum likelihood; default the model's"))
        anti_lm_steps: MinLen | None = Field(
            None, description="the first words the anti-LM penalty applies to (gamma); default "
            "the model's")
        attention: StrictBool | None = Field(
            False, description="return the best reply's attention weights")

        @model_validator(mode="after")
        def _cross_field(self) -> ReplyRequest:
            if self.sampling is None and self.n_best > self.beam:
                raise _fail("invalid_value", f"field 'n_best' must be between 1 and {self.beam} "
                            "(the beam width)", "n_best")
            if self.sampling is not None and (self.anti_lm is not None
                                              or self.anti_lm_steps is not None):
                name = "anti_lm" if self.anti_lm is not None else "anti_lm_steps"
                raise _fail("invalid_value", f"field '{name}' applies to search, not sampling",
                            name)
            return self

    return {"/score": ScoreRequest, "/classify": ClassifyRequest, "/similar": SimilarRequest,
            "/reply": ReplyRequest}


def _reply_rules() -> list[dict[str, Any]]:
    """/reply's cross-field rules in JSON Schema, which cannot compare two fields: spelled out
    for each value the bounded field may take (a missing or null field is its default).

    ``min_len`` <= ``max_len`` would take 100 branches, more than schemathesis' generator
    models (about 25), so ``min_len`` above ``max_len`` is not an error: the reply has
    ``max_len`` tokens, as when ``min_len`` exceeds the model's own ``max_len``.
    """
    unset = {"type": "null"}  # also matches a missing property: 'properties' applies if present
    n_best = [{"properties": {"sampling": {"type": "object"}}, "required": ["sampling"]},
              {"properties": {"beam": unset, "n_best": {"maximum": DEFAULT_BEAM}}}]
    n_best += [{"properties": {"beam": {"const": b}, "n_best": {"maximum": b}},
                "required": ["beam"]} for b in range(1, MAX_BEAM + 1)]
    anti = [{"properties": {"sampling": unset}},
            {"properties": {"anti_lm": unset, "anti_lm_steps": unset}}]
    return [{"anyOf": n_best}, {"anyOf": anti}]


def parse(path: str) -> Any:
    """The current request's body validated against ``path``'s model, or the SPEC §4 error."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("nlpsvc.schema")
    if found is None:
        found = app.extensions["nlpsvc.schema"] = models(Limits.of(app))
    cls = found[path]
    body = json_body()
    try:
        return cls.model_validate(body)
    except ValidationError as e:
        raise api_error(e, cls) from None


# -- errors -----------------------------------------------------------------------------------

_TYPES = {"string_type": "a string", "int_type": "an integer", "float_type": "a number",
          "bool_type": "a boolean", "list_type": "an array", "model_type": "an object",
          "dict_type": "an object", "model_attributes_type": "an object"}
_SERVICE_CODES = {"missing_field", "invalid_type", "invalid_value", "too_many_texts",
                  "text_too_long"}


def _where(loc: tuple[int | str, ...]) -> str | None:
    """``('texts', 3)`` -> ``texts[3]``, ``('sampling', 'seed')`` -> ``sampling.seed``."""
    if not loc:
        return None
    out = str(loc[0])
    for part in loc[1:]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _bounds(ctx: dict[str, Any], schema: dict[str, Any]) -> str:
    """A range as the API always said it: 'must be between 1 and 20', 'must be in (0, 1]'."""
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo = schema.get("exclusiveMinimum")
    g = lambda x: f"{x:g}" if isinstance(x, float) else str(x)  # noqa: E731
    if xlo is not None and hi is not None:
        return f"must be in ({g(xlo)}, {g(hi)}]"
    if lo is not None and hi is not None:
        return f"must be between {g(lo)} and {g(hi)}"
    if lo is not None:
        return f"must be >= {g(lo)}"
    bound = next(iter(ctx.values()), None) if ctx else None
    return f"is out of range ({bound})"


def _subschema(cls: type[BaseModel], loc: tuple[int | str, ...]) -> dict[str, Any]:
    """The JSON Schema of the field at ``loc`` (refs resolved, the null branch dropped)."""
    full = _schema_of(cls)
    defs = full.get("$defs", {})
    node: dict[str, Any] = full
    for part in loc:
        node = _resolve(node, defs)
        node = node.get("items", {}) if isinstance(part, int) else node.get(
            "properties", {}).get(part, {})
    return _resolve(node, defs)


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in node:
            node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
        elif "anyOf" in node:
            branches = [b for b in node["anyOf"] if b.get("type") != "null"]
            node = branches[0] if len(branches) == 1 else node
            if len(branches) != 1:
                return node
        else:
            return node


@lru_cache(maxsize=64)
def _schema_of(cls: type[BaseModel]) -> dict[str, Any]:
    return cls.model_json_schema()


def api_error(e: ValidationError, cls: type[Body]) -> ApiError:
    """The first of pydantic's errors as the service's SPEC §4 error (always a 422)."""
    errs = e.errors(include_url=False, include_input=False)
    err = errs[0]
    kind, loc, ctx = err["type"], tuple(err["loc"]), err.get("ctx") or {}
    where = _where(loc)
    if kind in _SERVICE_CODES:  # raised by our own validators (_fail, _not_blank, ...)
        if ctx.get("field"):
            return ApiError(422, kind, err["msg"], ctx["field"])
        return ApiError(422, kind, f"field '{where}' {err['msg']}", where)
    if kind == "string_unicode":  # not reached by chars() fields, which take any str
        return ApiError(422, "invalid_value", f"field '{where}' is not valid Unicode", where)
    if kind == "extra_forbidden":  # an unknown key inside a closed object (sampling)
        parent = _where(loc[:-1])
        names = [str(x["loc"][-1]) for x in errs if x["type"] == "extra_forbidden"
                 and tuple(x["loc"][:-1]) == loc[:-1]]
        return ApiError(422, "invalid_value", f"unknown {parent} option(s): "
                        f"{', '.join(sorted(names))}", parent)
    pattern = _where(tuple("[]" if isinstance(p, int) else p for p in loc)) or ""
    pattern = pattern.replace(".[]", "[]")  # ('pairs', 0, 1) -> pairs[][]
    override = cls.errors.get((pattern, kind))
    if override is not None:
        code, message = override
        return ApiError(422, code, message.format(field=where), where)
    if kind == "missing":
        return ApiError(422, "missing_field", f"field '{where}' is required", where)
    if kind in _TYPES:
        return ApiError(422, "invalid_type", f"field '{where}' must be {_TYPES[kind]}", where)
    schema = _subschema(cls, loc)
    if kind == "literal_error":
        allowed = ", ".join(str(v) for v in schema.get("enum", []))
        return ApiError(422, "invalid_value", f"field '{where}' must be one of {allowed}", where)
    if kind == "too_short" and schema.get("minItems") == 1:
        return ApiError(422, "invalid_value", f"field '{where}' must not be empty", where)
    if kind == "too_long":
        return ApiError(422, "invalid_value",
                        f"field '{where}' has more than {ctx.get('max_length')} items", where)
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return ApiError(422, "invalid_value", f"field '{where}' {_bounds(ctx, schema)}", where)
    return ApiError(422, "invalid_value", f"field '{where}' is invalid ({err['msg']})", where)


# -- responses --------------------------------------------------------------------------------


class Out(BaseModel):
    """A response body (never validated at run time: its schema is for /openapi.json)."""

    model_config = ConfigDict(json_schema_extra=_schema_extra())


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable: missing_field, invalid_type, ...")
    message: str = Field(description="one line for people")
    field: str | None = Field(description="the request field at fault, e.g. texts[3]")


class Error(BaseModel):
    """Every error (SPEC §4), whatever the status."""

    error: ErrorDetail


class TokenScore(BaseModel):
    token: str
    log10_prob: float | None
    ngram_order: int
    oov: bool


class ScoreResult(Out):
    text: str
    tokens: int = Field(description="tokens scored, sentence end included")
    log10_prob: float | None = Field(
        description="log10 P(text); null when zero (unsmoothed models)")
    perplexity: float | None
    oov: int = Field(description="words not in the vocabulary")
    per_token: list[TokenScore] = absent(description="with per_token: true")


class ScoreResponse(BaseModel):
    model: str
    kind: str
    version: str
    results: list[ScoreResult] = Field(description="one per text, in order")


class Label(BaseModel):
    label: str
    prob: float = Field(ge=0, le=1)


class ClassifyResult(BaseModel):
    labels: list[Label] = Field(description="best first")
    empty: bool = Field(description="no token after tokenisation: classified from the bias "
                        "(the learnt class prior) alone")


class ClassifyResponse(BaseModel):
    model: str
    variant: Literal[VARIANTS]  # type: ignore[valid-type]
    results: list[ClassifyResult]


class Neighbour(BaseModel):
    word: str
    score: float = Field(description="cosine similarity")


class PairScore(BaseModel):
    words: list[str] = Field(min_length=2, max_length=2)
    score: float = Field(description="cosine similarity")
    oov: bool


class SimilarResponse(Out):
    model: str
    results: list[Neighbour] | list[PairScore] = Field(
        description="neighbours (word, positive) or pair scores (pairs)")
    oov: bool = Field(description="an answer used a word never seen in training (fastText)")
    vector: list[float] = absent(description="with word and vector: true")


class Alternative(BaseModel):
    text: str
    score: float = Field(description="log probability per token; higher is better")


class Attention(BaseModel):
    source: list[str]
    reply: list[str]
    weights: list[list[float]]


class ReplyResponse(Out):
    model: str
    reply: str
    alternatives: list[Alternative] = Field(description="the n best, best first")
    truncated: bool = Field(description="the message was cut to its last tokens")
    notice: str = absent(description="when truncated: says so")
    source_tokens: int = absent()
    max_source_tokens: int = absent()
    history_used: int = absent()
    attention: Attention = absent(description="with attention: true")


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class LoadError(BaseModel):
    model: str
    kind: str
    version: str | None
    error: str = Field(description="why it is not loaded (no filesystem path)")


class Ready(BaseModel):
    ready: bool
    models: dict[str, list[str]] = Field(description="model set -> loaded kinds")
    errors: list[LoadError]


class ModelSummary(BaseModel):
    model: str
    kind: str
    version: str
    corpus: str | None
    created: str | None
    metrics: dict[str, Any]


class Models(BaseModel):
    default: str | None
    models: list[ModelSummary]


# -- OpenAPI ----------------------------------------------------------------------------------

POSTS = {  # path -> (summary, description, response model, statuses besides 200)
    "/score": ("Score texts with a language model (log10 probability, perplexity).",
               "Give 'text' or 'texts'.", ScoreResponse, (400, 404, 413, 415, 422, 503)),
    "/classify": ("Classify texts with the classifier of a model set.",
                  "Give 'text' or 'texts'. Probabilities are a softmax over the classes (they "
                  "sum to 1), or independent sigmoids for a multi-label model; 'top_k' above "
                  "the number of classes, or a variant that was not trained, is a 422.",
                  ClassifyResponse, (400, 404, 413, 415, 422, 503)),
    "/similar": ("Nearest words, analogies or pair similarity (word embeddings).",
                 "Give exactly one of 'word', 'positive' (with optional 'negative') or "
                 "'pairs'. Scores are cosine similarities. fastText models answer unseen words "
                 "from character n-grams and set 'oov'; word2vec models answer them with 404 "
                 "'unknown_word'. A word must be valid Unicode (no lone surrogate).",
                 SimilarResponse, (400, 404, 413, 415, 422, 503)),
    "/reply": ("The chatbot's reply to a message.",
               "Beam search (beam 1 = greedy) or sampling. Scores are the natural-log "
               "probability of the reply (with </s>) divided by its length: higher is better, "
               "0 is the maximum. A message longer than the model's maximum source length is "
               "cut to its last tokens; 'truncated' and 'notice' say so.",
               ReplyResponse, (400, 404, 413, 415, 422, 503)),
}
GETS = {  # path -> (summary, response model, statuses besides 200)
    "/health": ("Liveness: the process answers.", Health, ()),
    "/ready": ("Readiness: models are loaded (503 with the same body when none is).", Ready,
               ()),
    "/models": ("Each loaded model's manifest summary.", Models, ()),
}
STATUS = {
    400: "malformed JSON (or not UTF-8)",
    401: "missing or invalid API token (WWW-Authenticate says which)",
    404: "unknown model set, or unknown word (word2vec)",
    405: "method not allowed on this path (Allow lists the methods)",
    413: "request body over the limit (1 MiB by default)",
    415: "Content-Type is not application/json",
    422: "missing or invalid field (the error names it)",
    503: "no model of this kind is loaded",
}


def openapi(app: Flask, extra_paths: dict[str, Any], classes: int | None = None,
            ) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``: its endpoints' models, plus ``extra_paths`` (the
    non-JSON pages, described by their blueprints). ``classes``: the number of classes when
    every loaded classifier has the same, so that ``top_k``'s maximum can be stated."""
    reqs = models(Limits.of(app))
    registered = {rule.rule for rule in app.url_map.iter_rules()}
    components: dict[str, Any] = {}

    def schema(cls: type[BaseModel]) -> dict[str, Any]:
        out = cls.model_json_schema(ref_template=REF)
        components.update(out.pop("$defs", {}))
        return out

    def ref(cls: type[BaseModel]) -> dict[str, Any]:
        components[cls.__name__] = schema(cls)
        return {"$ref": REF.format(model=cls.__name__)}

    def responses(model: type[BaseModel], statuses: tuple[int, ...]) -> dict[str, Any]:
        out = {"200": {"description": "OK", "content": {"application/json": {
            "schema": ref(model)}}}}
        for status in statuses:
            out[str(status)] = {"$ref": f"#/components/responses/E{status}"}
        if model is Ready:  # not ready: the same body, with 503
            out["503"] = {"description": "no model loaded", "content": {"application/json": {
                "schema": ref(model)}}}
        return out

    paths: dict[str, Any] = {}
    for path, (summary, description, response, statuses) in POSTS.items():
        if path not in registered:
            continue
        body = schema(reqs[path])
        if path == "/classify" and classes is not None:
            body["properties"]["top_k"]["anyOf"][0]["maximum"] = classes
        paths[path] = {"post": {
            "summary": summary, "description": description,
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": responses(response, statuses)}}
    for path, (summary, response, statuses) in GETS.items():
        if path in registered:
            paths[path] = {"get": {"summary": summary, "responses": responses(response, statuses)}}
    paths["/openapi.json"] = {"get": {"summary": "This OpenAPI 3.1 description.", "responses": {
        "200": {"description": "OK", "content": {"application/json": {
            "schema": {"type": "object"}}}}}}}
    paths.update({p: ops for p, ops in extra_paths.items() if p in registered})
    ref(Error)
    from nlpsvc import __version__

    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "nlpsvc", "version": __version__,
                 "description": "NLP text models as a service. Log probabilities are log10. "
                 "Every error is an Error object; another method on a path is a 405 with "
                 "Allow."},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "responses": {f"E{s}": {"description": d, "content": {"application/json": {
                "schema": {"$ref": REF.format(model="Error")}}}} for s, d in STATUS.items()},
        },
    }
    if app.extensions.get("nlpsvc.auth"):
        _bearer(spec)
    return spec


def _bearer(spec: dict[str, Any]) -> None:
    """With API tokens on (auth.py): every POST needs the Bearer token and may answer 401."""
    spec["components"]["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    for ops in spec["paths"].values():
        if "post" in ops:
            ops["post"]["security"] = [{"bearerAuth": []}]
            ops["post"]["responses"]["401"] = {"$ref": "#/components/responses/E401"}
