"""The API's one declaration (nlpsvc/service/schema.py): the generated OpenAPI document and the
request validation must say the same thing; errors keep SPEC §4's codes and fields."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from pydantic import ValidationError

from nlpsvc.service import create_app, schema
from nlpsvc.service.jsonio import JSONProvider
from nlpsvc.service.registry import Registry

POSTS = ("/score", "/classify", "/similar", "/reply")


@pytest.fixture(scope="module")
def app() -> Flask:
    return create_app({"TESTING": True, "REGISTRY": Registry(), "METRICS": False,
                       "REQUEST_LOG": "off"})


@pytest.fixture(scope="module")
def spec(app: Flask) -> dict[str, Any]:
    return app.test_client().get("/openapi.json").get_json()


def request_validator(spec: dict[str, Any], path: str) -> jsonschema.Draft202012Validator:
    """The request body's schema as the document states it (its $refs into components)."""
    pointer = f"#/paths/{path.replace('/', '~1')}/post/requestBody/content/application~1json/schema"
    return jsonschema.Draft202012Validator({**spec, "$ref": pointer})


def test_document_is_openapi_31_with_every_error_status(spec: dict[str, Any]) -> None:
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    for path in POSTS:
        responses = spec["paths"][path]["post"]["responses"]
        assert {"200", "400", "404", "413", "415", "422", "503"} <= set(responses), path
        for status, resp in responses.items():
            if status != "200":
                assert resp == {"$ref": f"#/components/responses/E{status}"}
    for status, resp in spec["components"]["responses"].items():
        assert resp["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}, status
    assert {"E401", "E405"} <= set(spec["components"]["responses"])
    error = spec["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"code", "message", "field"}


@pytest.mark.parametrize(("path", "body"), [
    # the disagreements issue 14 found: the hand-written document accepted these
    ("/score", {}), ("/classify", {}), ("/similar", {}),
    ("/reply", {"message": "hi", "beam": 2, "n_best": 3}),
    ("/score", {"text": "a", "texts": ["b"]}),
    ("/similar", {"word": "king", "pairs": [["a", "b"]]}),
    ("/similar", {"word": "king", "negative": ["man"]}),
    ("/similar", {"word": " \u3000\x1d"}),
    ("/reply", {"message": "hi", "anti_lm": 0.5, "sampling": {"seed": 1}}),
    ("/reply", {"message": "hi", "sampling": {"beam": 2}}),
    ("/reply", {"message": "hi", "n_best": 6}),  # beam's default is 5
])
def test_document_and_validation_refuse_the_same(app: Flask, spec: dict[str, Any], path: str,
                                                 body: dict[str, Any]) -> None:
    assert not request_validator(spec, path).is_valid(body)
    resp = app.test_client().post(path, json=body)
    assert resp.status_code == 422, resp.get_json()


@pytest.mark.parametrize(("path", "body"), [
    ("/reply", {"message": "hi", "beam": 2, "n_best": 2}),
    ("/reply", {"message": "hi", "n_best": 9, "sampling": {"seed": 1}}),
    ("/reply", {"message": "hi", "beam": None, "n_best": 5, "anti_lm": None,
                "sampling": None}),
    ("/similar", {"positive": ["king", "woman"], "negative": ["man"], "topn": 2.0}),
    ("/classify", {"texts": ["a"], "top_k": 1}),
])
def test_document_and_validation_accept_the_same(app: Flask, spec: dict[str, Any], path: str,
                                                 body: dict[str, Any]) -> None:
    assert request_validator(spec, path).is_valid(body)
    resp = app.test_client().post(path, json=body)  # no model loaded: past validation, a 503
    assert resp.status_code == 503, resp.get_json()


@pytest.mark.parametrize(("path", "body", "code", "field", "message"), [
    ("/score", {}, "missing_field", "text", "field 'text' or 'texts' is required"),
    ("/score", {"texts": ["a", 3]}, "invalid_type", "texts[1]", "field 'texts[1]' must be a "
     "string"),
    ("/score", {"texts": ["a"] * 1001}, "too_many_texts", "texts",
     "at most 1000 texts per request"),
    ("/score", {"texts": ["a", "b" * 10_001]}, "text_too_long", "texts[1]",
     "field 'texts[1]' exceeds 10000 characters"),
    ("/score", {"text": "a", "kind": "bigram"}, "invalid_value", "kind",
     "field 'kind' must be one of ngram, lstm, mix"),
    ("/score", {"text": None}, "invalid_type", "text", "field 'text' must be a string"),
    ("/classify", {"texts": ["ok", ""]}, "invalid_value", "texts[1]",
     "field 'texts[1]' must not be empty"),
    ("/classify", {"text": "x", "top_k": 1.5}, "invalid_type", "top_k",
     "field 'top_k' must be an integer"),
    ("/classify", {"text": "x", "top_k": True}, "invalid_type", "top_k",
     "field 'top_k' must be an integer"),
    ("/similar", {"pairs": [["king"]]}, "invalid_type", "pairs[0]",
     "field 'pairs[0]' must be [word, word]"),
    ("/similar", {"pairs": [["king", 1]]}, "invalid_type", "pairs[0][1]",
     "field 'pairs[0][1]' must be a string"),
    ("/similar", {"negative": ["man"]}, "missing_field", "positive",
     "field 'positive' is required"),
    ("/similar", {"word": "a\udfff"}, "invalid_value", "word",
     "field 'word' is not valid Unicode (a lone surrogate)"),
    ("/reply", {"message": "hi", "beam": 2, "n_best": 3}, "invalid_value", "n_best",
     "field 'n_best' must be between 1 and 2 (the beam width)"),
    ("/reply", {"message": "hi", "beam": 0}, "invalid_value", "beam",
     "field 'beam' must be between 1 and 20"),
    ("/reply", {"message": "hi", "sampling": {"temperature": 0}}, "invalid_value",
     "sampling.temperature", "field 'sampling.temperature' must be in (0, 10]"),
    ("/reply", {"message": "hi", "sampling": {"seed": 2**64}}, "invalid_value",
     "sampling.seed", "field 'sampling.seed' must be between 0 and 18446744073709551615"),
    ("/reply", {"message": "hi", "sampling": {"beam": 2, "x": 1}}, "invalid_value",
     "sampling", "unknown sampling option(s): beam, x"),
    ("/reply", {"message": "hi", "anti_lm": 0.5, "sampling": {}}, "invalid_value", "anti_lm",
     "field 'anti_lm' applies to search, not sampling"),
    ("/reply", {"message": "hi", "history": ["a"] * 1001}, "invalid_value", "history",
     "at most 1000 history turns"),
])
def test_errors_keep_the_spec_format(app: Flask, path: str, body: dict[str, Any], code: str,
                                     field: str, message: str) -> None:
    resp = app.test_client().post(path, json=body)
    assert resp.status_code == 422
    assert resp.get_json() == {"error": {"code": code, "message": message, "field": field}}


def test_limits_from_the_config_are_in_the_document() -> None:
    app = create_app({"TESTING": True, "REGISTRY": Registry(), "MAX_TEXTS": 3,
                      "MAX_TEXT_CHARS": 7, "MAX_TOPN": 4})
    spec = app.test_client().get("/openapi.json").get_json()
    props = spec["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]["properties"]
    assert props["texts"]["maxItems"] == 3 and props["texts"]["items"]["maxLength"] == 7
    similar = spec["paths"]["/similar"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]["properties"]
    assert similar["topn"]["anyOf"][0]["maximum"] == 4
    resp = app.test_client().post("/score", json={"texts": ["a"] * 4})
    assert resp.get_json()["error"]["message"] == "at most 3 texts per request"


# -- property: the document and the validator agree on any body ------------------------------

_WORDS = st.sampled_from(["", " ", "\x1d", "\u3000", "\ufeff", "king", "a b", "ngram", "lstm",
                          "mix", "linear", "fasttext", "x" * 300])
_INTS = st.one_of(st.integers(-1, 22), st.integers(0, 6), st.sampled_from(
    [99, 100, 101, 1000, 1001, 2**64 - 1, 2**64, 2.0, 1.5, "3"]))
_FLOATS = st.one_of(st.floats(-1, 12, allow_nan=False), st.sampled_from([0, 1, 5, 1e-300]))
_JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), _WORDS, st.just([]),
                  st.just({}))


def _lists(item: st.SearchStrategy, max_size: int = 3) -> st.SearchStrategy:
    return st.lists(item, max_size=max_size)


_SAMPLING = st.dictionaries(
    st.sampled_from(["temperature", "top_k", "top_p", "seed", "beam"]),
    st.one_of(_FLOATS, _INTS, st.none()), max_size=3)
_FIELDS: dict[str, dict[str, st.SearchStrategy]] = {
    "/score": {"text": _WORDS, "texts": _lists(_WORDS), "kind": _WORDS,
               "per_token": st.booleans(), "model": _WORDS},
    "/classify": {"text": _WORDS, "texts": _lists(_WORDS), "top_k": _INTS, "variant": _WORDS,
                  "model": _WORDS},
    "/similar": {"word": _WORDS, "vector": st.booleans(), "positive": _lists(_WORDS),
                 "negative": _lists(_WORDS), "pairs": _lists(_lists(_WORDS)), "topn": _INTS,
                 "model": _WORDS},
    "/reply": {"message": _WORDS, "history": _lists(_WORDS), "beam": _INTS, "n_best": _INTS,
               "max_len": _INTS, "min_len": _INTS, "no_repeat_ngram": _INTS,
               "anti_lm": _FLOATS, "anti_lm_steps": _INTS, "sampling": _SAMPLING,
               "attention": st.booleans(), "model": _WORDS},
}


_MODES = {"/score": [["text"], ["texts"]], "/classify": [["text"], ["texts"]],
          "/similar": [["word"], ["positive"], ["positive", "negative"], ["pairs"]],
          "/reply": [["message"]]}


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """Bodies near the declared ones: mostly one of the endpoint's modes (text or texts, ...)
    and each field mostly of its own type; sometimes anything."""
    path = draw(st.sampled_from(POSTS))
    fields = _FIELDS[path]
    mode = draw(st.sampled_from(_MODES[path])) if draw(st.integers(0, 9)) else []
    others = [k for k in sorted(fields) if not any(k in m for m in _MODES[path])]
    keys = mode + draw(st.lists(st.sampled_from(others + sorted(fields)), unique=True,
                                max_size=6))
    junk = st.one_of(*[fields[k] for k in fields], _JUNK)
    return path, {k: draw(junk if not draw(st.integers(0, 7)) else fields[k]) for k in keys}


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(bodies())
def test_any_body_is_valid_to_both_or_to_neither(spec_and_models: Any,
                                                 case: tuple[str, dict[str, Any]]) -> None:
    spec, models, decode = spec_and_models
    path, body = case
    as_sent = decode(json.dumps(body))  # as the service reads it (2.0 is an integer)
    try:
        models[path].model_validate(as_sent)
        accepted = True
    except ValidationError:
        accepted = False
    assert request_validator(spec, path).is_valid(as_sent) == accepted, (path, as_sent)


@pytest.fixture(scope="module")
def spec_and_models(app: Flask, spec: dict[str, Any]) -> Any:
    provider = JSONProvider(app)
    return spec, schema.models(schema.Limits.of(app)), provider.loads


# -- responses are JSON ------------------------------------------------------------------------


def test_models_answers_non_finite_metrics_as_null(tmp_path) -> None:  # noqa: ANN001
    """A manifest written by Python's json may hold Infinity (an unsmoothed model's
    perplexity); /models answers null there, as the document says numbers are finite JSON."""
    from nlpsvc.artifacts import ArtifactWriter, load_current

    with ArtifactWriter(tmp_path, "mle", "ngram") as w:
        (w.dir / "model.bin").write_bytes(b"x")
        w.manifest.update(metrics={"perplexity": float("inf"), "by_order": [1.5, float("nan")]})
    reg = Registry()
    reg.add("mle", "ngram", load_current(tmp_path / "mle" / "ngram"), model=None)
    app = create_app({"TESTING": True, "REGISTRY": reg, "METRICS": False, "REQUEST_LOG": "off"})
    resp = app.test_client().get("/models")
    assert resp.status_code == 200

    def refuse(literal: str) -> None:
        raise AssertionError(f"{literal} in /models")

    body = json.loads(resp.get_data(as_text=True), parse_constant=refuse)
    assert body["models"][0]["metrics"] == {"perplexity": None, "by_order": [1.5, None]}


def test_a_non_finite_number_is_never_written(app: Flask) -> None:
    """Python's encoder would write NaN, which no JSON parser reads: it is a 500 instead."""
    from flask import jsonify

    with app.test_request_context():
        with pytest.raises(ValueError, match="not JSON compliant"):
            jsonify({"score": float("nan")})
