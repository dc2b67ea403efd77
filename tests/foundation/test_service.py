"""The Flask service through the test client: every endpoint and every SPEC §4 error path."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from werkzeug.test import EnvironBuilder, run_wsgi_app

from nlpsvc.service.registry import Registry


def post(client: FlaskClient, path: str, body: object, **kw: object):  # noqa: ANN201
    return client.post(path, data=json.dumps(body), content_type="application/json", **kw)


def error_of(resp) -> dict:  # noqa: ANN001
    body = resp.get_json()
    assert set(body) == {"error"} and {"code", "message", "field"} <= set(body["error"])
    return body["error"]


# -- meta endpoints ------------------------------------------------------------------------------


def test_health_ready_models(client: FlaskClient) -> None:
    assert client.get("/health").get_json()["status"] == "ok"
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.get_json()["models"] == {"mini": ["ngram"]}
    models = client.get("/models").get_json()
    (entry,) = models["models"]
    assert entry["model"] == "mini" and entry["kind"] == "ngram"
    assert entry["metrics"]["perplexity"] > 1


def test_ready_is_503_without_models(make_app) -> None:  # noqa: ANN001
    resp = make_app(registry=Registry()).test_client().get("/ready")
    assert resp.status_code == 503 and resp.get_json()["ready"] is False


def test_openapi_is_valid(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    assert "/score" in spec["paths"] and "/health" in spec["paths"]


# -- /score ---------------------------------------------------------------------------------------


def test_score_single_and_batch(client: FlaskClient) -> None:
    one = post(client, "/score", {"text": "Alice was beginning to get very tired"})
    assert one.status_code == 200
    body = one.get_json()
    assert body["model"] == "mini"
    (res,) = body["results"]
    assert res["text"] == "Alice was beginning to get very tired"
    assert res["tokens"] >= 7 and res["log10_prob"] < 0 and res["perplexity"] > 1
    assert "per_token" not in res
    texts = ["the queen said", "said queen the", "zzzqx unknownword"]
    many = post(client, "/score", {"texts": texts, "per_token": True, "model": "mini"})
    results = many.get_json()["results"]
    assert [r["text"] for r in results] == texts
    assert results[0]["log10_prob"] > results[1]["log10_prob"]  # word order matters
    assert results[2]["oov"] == 2
    toks = results[0]["per_token"]
    assert [t["token"] for t in toks][:3] == ["the", "queen", "said"]
    assert abs(sum(t["log10_prob"] for t in toks) - results[0]["log10_prob"]) < 1e-6
    assert all(1 <= t["ngram_order"] <= 3 and t["oov"] is False for t in toks)
    # the same text alone and in a batch scores the same
    alone = post(client, "/score", {"text": texts[1]}).get_json()["results"][0]
    assert alone["log10_prob"] == pytest.approx(results[1]["log10_prob"], abs=1e-9)


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 422, "missing_field", "text"),
        ({"text": 5}, 422, "invalid_type", "text"),
        ({"texts": "a string"}, 422, "invalid_type", "texts"),
        ({"texts": ["ok", 3]}, 422, "invalid_type", "texts[1]"),
        ({"texts": []}, 422, "invalid_value", "texts"),
        ({"text": "a", "texts": ["b"]}, 422, "invalid_value", "texts"),
        ({"text": "a", "per_token": "yes"}, 422, "invalid_type", "per_token"),
        ({"text": "a", "kind": "bigram"}, 422, "invalid_value", "kind"),
        ({"text": "a", "model": 7}, 422, "invalid_type", "model"),
        ({"text": "a", "model": "nope"}, 404, "unknown_model", "model"),
        ({"text": "a", "kind": "lstm"}, 503, "model_unavailable", None),
        ({"texts": ["a"] * 1001}, 422, "too_many_texts", "texts"),
        ({"text": "a" * 10_001}, 422, "text_too_long", "text"),
        ([1, 2], 422, "invalid_type", None),
    ],
)
def test_score_errors(client: FlaskClient, body: object, status: int, code: str,
                      field: str | None) -> None:
    resp = post(client, "/score", body)
    assert resp.status_code == status, resp.get_json()
    err = error_of(resp)
    assert err["code"] == code and err["field"] == field and err["message"]


def test_malformed_json_wrong_type_and_size(client: FlaskClient) -> None:
    resp = client.post("/score", data='{"text": "a"', content_type="application/json")
    assert resp.status_code == 400 and error_of(resp)["code"] == "malformed_json"
    resp = client.post("/score", data=b'{"text": "\xff"}', content_type="application/json")
    assert resp.status_code == 400 and error_of(resp)["code"] == "malformed_json"
    resp = client.post("/score", data="[" * 100_000 + "]" * 100_000,
                       content_type="application/json")  # deeper than the parser's recursion
    assert resp.status_code == 400 and error_of(resp)["code"] == "malformed_json"
    for constant in ("NaN", "Infinity", "-Infinity"):  # Python extensions, not JSON
        resp = client.post("/score", data='{"text": "a", "x": ' + constant + "}",
                           content_type="application/json")
        assert resp.status_code == 400 and error_of(resp)["code"] == "malformed_json"
    resp = client.post("/score", data='{"text": "a"}', content_type="text/plain")
    assert resp.status_code == 415 and error_of(resp)["code"] == "unsupported_media_type"
    resp = client.post("/score", data="text=a")  # a form post
    assert resp.status_code == 415
    big = json.dumps({"texts": ["x" * 9000] * 120})  # ~1.08 MB > 1 MiB
    resp = client.post("/score", data=big, content_type="application/json")
    assert resp.status_code == 413 and error_of(resp)["code"] == "too_large"


def chunked_post(app: Flask, body: bytes) -> tuple[int, dict]:
    """POST /score without Content-Length on a stream the server terminates, as gunicorn
    passes a ``Transfer-Encoding: chunked`` body (the test client always sets a length)."""
    environ = EnvironBuilder(path="/score", method="POST", input_stream=io.BytesIO(body),
                             content_type="application/json").get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    chunks, status, _ = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), json.loads(b"".join(chunks))


def test_chunked_body_over_the_limit_is_413(app: Flask) -> None:
    """Issue 14: cut at 1 MiB and answered 200 when the first MiB parsed."""
    head = b'{"text": "the queen said"}'
    status, body = chunked_post(app, head + b" " * (2 << 20))
    assert status == 413 and body["error"]["code"] == "too_large"
    assert chunked_post(app, head + b" " * ((1 << 20) + 1 - len(head)))[0] == 413  # 1 byte over
    status, body = chunked_post(app, head + b" " * ((1 << 20) - len(head)))  # exactly the limit
    assert status == 200, body
    assert chunked_post(app, head)[0] == 200


def test_http_errors_are_json(client: FlaskClient) -> None:
    resp = client.get("/score")
    assert resp.status_code == 405 and error_of(resp)["code"] == "method_not_allowed"
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) == {"POST", "OPTIONS"}
    assert resp.mimetype == "application/json"
    resp = client.post("/health")
    assert resp.status_code == 405 and "GET" in resp.headers["Allow"]
    resp = client.get("/no/such/path")
    assert resp.status_code == 404 and error_of(resp)["code"] == "not_found"


def test_limits_are_configurable(make_app, models_root: Path) -> None:  # noqa: ANN001
    client = make_app(models_root, MAX_TEXTS=2, MAX_TEXT_CHARS=5).test_client()
    assert post(client, "/score", {"texts": ["a", "b", "c"]}).status_code == 422
    assert error_of(post(client, "/score", {"text": "abcdef"}))["code"] == "text_too_long"
    assert post(client, "/score", {"texts": ["a", "b"]}).status_code == 200


def test_several_sets_need_a_model_name(make_app, models_root: Path,
                                        tmp_path: Path) -> None:  # noqa: ANN001
    root = tmp_path / "models"
    shutil.copytree(models_root / "mini", root / "mini")
    shutil.copytree(models_root / "mini", root / "other")
    client = make_app(root).test_client()
    resp = post(client, "/score", {"text": "a"})
    assert resp.status_code == 422 and error_of(resp)["field"] == "model"
    assert post(client, "/score", {"text": "a", "model": "other"}).get_json()["model"] == "other"
    client = make_app(root, DEFAULT_MODEL="other").test_client()
    assert post(client, "/score", {"text": "a"}).get_json()["model"] == "other"


def test_corrupted_current_serves_previous_version(make_app, models_root: Path,
                                                   mini_corpus: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from nlpsvc.cli import main as cli

    root = tmp_path / "models"
    shutil.copytree(models_root, root)
    first = (root / "mini" / "ngram" / "CURRENT").read_text().strip()
    before = post(make_app(root).test_client(), "/score", {"text": "the queen"}).get_json()
    assert cli(["train", str(mini_corpus), "--only", "ngram", "--out", str(root), "-q",
                "--set", "ngram.order=2"]) == 0
    second = (root / "mini" / "ngram" / "CURRENT").read_text().strip()
    assert second != first
    victim = max((root / "mini" / "ngram" / second / "model").iterdir(),
                 key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip one byte in the middle
    victim.write_bytes(bytes(data))
    client = make_app(root).test_client()
    after = post(client, "/score", {"text": "the queen"}).get_json()
    assert after["version"] == first
    assert after["results"] == before["results"]
    models = client.get("/models").get_json()["models"]
    assert models[0]["version"] == first


def test_a_model_that_fails_to_load_does_not_take_others_down(
    make_app, models_root: Path, tmp_path: Path  # noqa: ANN001
) -> None:
    from nlpsvc.artifacts import ArtifactWriter

    root = tmp_path / "models"
    shutil.copytree(models_root / "mini", root / "mini")
    with ArtifactWriter(root, "broken", "ngram") as w:  # hashes fine, contents unloadable
        (w.dir / "model").mkdir()
        (w.dir / "model" / "junk.bin").write_bytes(b"not a model")
        w.manifest.update(text={})
    with ArtifactWriter(root, "corrupt", "ngram") as c:  # fails its hash check: no fallback
        (c.dir / "model.bin").write_bytes(b"abc")
    (c.version_dir / "model.bin").write_bytes(b"xyz")
    client = make_app(root).test_client()
    ready = client.get("/ready")
    assert ready.get_json()["models"] == {"mini": ["ngram"]}
    errors = {e["model"]: e for e in ready.get_json()["errors"]}
    assert errors["broken"]["kind"] == "ngram" and errors["broken"]["version"] == w.version
    assert errors["corrupt"]["version"] == c.version
    assert errors["corrupt"]["error"] == "model.bin: sha256 mismatch (file corrupted or modified)"
    # issue 14: /ready named absolute paths of the server's files
    assert str(tmp_path) not in ready.get_data(as_text=True)
    assert "/" not in "".join(e["error"] for e in errors.values())
    assert post(client, "/score", {"text": "a", "model": "mini"}).status_code == 200
    resp = post(client, "/score", {"text": "a", "model": "broken"})
    assert resp.status_code == 503 and error_of(resp)["code"] == "model_unavailable"


@pytest.mark.parametrize("message, public", [
    ("/srv/models/demo/ngram/v1/model.bin: sha256 mismatch", "model.bin: sha256 mismatch"),
    ("[Errno 2] No such file or directory: '/home/u/m/x.npy'",
     "[Errno 2] No such file or directory: 'x.npy'"),
    (r"C:\models\demo\vocab.json: unreadable", "vocab.json: unreadable"),
    ("order 1/2 of models/demo, line\nbreak", "order 1/2 of models/demo, line break"),
    ("", "ValueError"),
])
def test_public_message_cuts_absolute_paths(message: str, public: str) -> None:
    from nlpsvc.service.registry import public_message

    assert public_message(ValueError(message)) == public
