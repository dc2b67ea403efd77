"""``POST /classify`` (SPEC §4): answers, validation, OpenAPI description."""

from __future__ import annotations

from pathlib import Path

import pytest
from openapi_spec_validator import validate

from nlpsvc.artifacts import load_current
from nlpsvc.classify import load_artifact
from nlpsvc.service import create_app
from nlpsvc.service.registry import Registry


@pytest.fixture(scope="module")
def client(trec_models: Path):  # noqa: ANN201 - Flask test client
    art = load_current(trec_models / "classifier")
    reg = Registry()
    reg.add("trec-small", "classifier", art, load_artifact(art))
    app = create_app({"TESTING": True, "REGISTRY": reg, "MAX_TEXTS": 5})
    return app.test_client()


def post(client, body: dict, **kw):  # noqa: ANN001, ANN201
    return client.post("/classify", json=body, **kw)


def test_classify_one_text(client) -> None:
    r = post(client, {"text": "Who wrote Hamlet ?", "top_k": 3})
    assert r.status_code == 200
    body = r.get_json()
    assert body["model"] == "trec-small" and body["variant"] in ("linear", "fasttext")
    (res,) = body["results"]
    assert len(res["labels"]) == 3 and res["labels"][0]["label"] == "HUM"
    assert res["empty"] is False


def test_classify_many_texts_each_variant(client) -> None:
    texts = ["How far is the moon ?", "What does NASA stand for ?"]
    for variant in ("linear", "fasttext"):
        r = post(client, {"texts": texts, "variant": variant, "top_k": 6})
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert body["variant"] == variant and len(body["results"]) == 2
        for res in body["results"]:
            assert abs(sum(lab["prob"] for lab in res["labels"]) - 1) < 1e-4


def test_blank_text_is_answered_and_flagged(client) -> None:
    r = post(client, {"texts": ["   ", "Where is Rome ?"]})
    assert r.status_code == 200
    assert [res["empty"] for res in r.get_json()["results"]] == [True, False]


@pytest.mark.parametrize("variant", ["linear", "fasttext"])
@pytest.mark.parametrize("text", ["\ud800", "who \udfff wrote it ?"])
def test_lone_surrogates_are_answered(client, variant: str, text: str) -> None:
    """Issue 14: the fastText variant answered 500 (UnicodeEncodeError in its word hash)."""
    r = post(client, {"text": text, "variant": variant})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["variant"] == variant


@pytest.mark.parametrize("body, field", [
    ({"text": ""}, "text"),
    ({"texts": ["ok", ""]}, "texts[1]"),
    ({"texts": []}, "texts"),
    ({"text": "x", "top_k": 0}, "top_k"),
    ({"text": "x", "top_k": -2}, "top_k"),
    ({"text": "x", "top_k": 7}, "top_k"),
    ({"text": "x", "top_k": "3"}, "top_k"),
    ({"text": "x", "top_k": True}, "top_k"),
    ({"text": "x", "variant": "svm"}, "variant"),
    ({"text": "x", "variant": 1}, "variant"),
    ({"text": 5}, "text"),
    ({"texts": ["a"] * 6}, "texts"),
    ({}, "text"),
])
def test_invalid_requests_are_422_naming_the_field(client, body: dict, field: str) -> None:
    r = post(client, body)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["field"] == field


def test_unknown_model_and_bad_content(client) -> None:
    r = post(client, {"text": "x", "model": "nope"})
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "unknown_model"
    r = client.post("/classify", data="text=x", content_type="text/plain")
    assert r.status_code == 415
    r = client.post("/classify", data="{bad json", content_type="application/json")
    assert r.status_code == 400


def test_no_classifier_loaded_is_503() -> None:
    app = create_app({"TESTING": True, "REGISTRY": Registry()})
    r = app.test_client().post("/classify", json={"text": "x"})
    assert r.status_code == 503


def test_openapi_describes_classify(client) -> None:
    spec = client.get("/openapi.json").get_json()
    op = spec["paths"]["/classify"]["post"]
    props = op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"text", "texts", "top_k", "variant", "model"} <= set(props)
    validate(spec)  # a test dependency (pyproject's test extra): missing is a failure
