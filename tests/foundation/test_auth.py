"""API tokens (issue 13): Bearer on every POST, 401 + WWW-Authenticate, GETs open, bad config
refused at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlpsvc.cli import main as cli
from nlpsvc.service.auth import (
    TokenCheck,
    TokenConfigError,
    configured_tokens,
    read_tokens_file,
)


@pytest.fixture
def secured(make_app, models_root: Path):  # noqa: ANN001, ANN201
    return make_app(models_root, API_TOKENS=["tok-a", "tok-b"], REQUEST_LOG="off").test_client()


def test_posts_need_a_valid_bearer_token(secured) -> None:  # noqa: ANN001
    body = {"text": "the queen"}
    for headers, challenge in (({}, 'Bearer realm="nlpsvc"'),
                               ({"Authorization": "Bearer nope"}, 'error="invalid_token"'),
                               ({"Authorization": "Basic dG9rLWE6"}, 'error="invalid_request"'),
                               ({"Authorization": "Bearer "}, 'error="invalid_request"')):
        resp = secured.post("/score", json=body, headers=headers)
        assert resp.status_code == 401, headers
        assert resp.get_json()["error"]["code"] == "unauthorized"
        assert resp.get_json()["error"]["field"] is None
        assert resp.headers["WWW-Authenticate"].startswith('Bearer realm="nlpsvc"')
        assert challenge in resp.headers["WWW-Authenticate"]
    for token in ("tok-a", "tok-b"):
        ok = secured.post("/score", json=body, headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
    lower = secured.post("/score", json=body, headers={"Authorization": "bearer tok-a"})
    assert lower.status_code == 200  # the scheme is case-insensitive (RFC 9110 §11.1)


def test_auth_comes_before_validation(secured) -> None:  # noqa: ANN001
    """No token: 401 even for a body that would be a 400/415, and for unknown models."""
    assert secured.post("/score", data="{", content_type="application/json").status_code == 401
    assert secured.post("/similar", data="x", content_type="text/plain").status_code == 401


@pytest.mark.parametrize("path", ["/", "/health", "/ready", "/metrics", "/models",
                                  "/openapi.json", "/static/app.js"])
def test_get_routes_stay_open(secured, path: str) -> None:  # noqa: ANN001
    assert secured.get(path).status_code == 200


def test_tokens_from_the_environment_and_a_file(tmp_path: Path) -> None:
    assert configured_tokens({}, {}) is None  # nothing set: open
    assert configured_tokens({}, {"NLPSVC_API_TOKENS": " a1 , b2,"}) == ["a1", "b2"]
    f = tmp_path / "tokens"
    f.write_text("# ops team\nops-1\n\n  ci-2   # the CI runner\n", encoding="utf-8")
    assert read_tokens_file(f) == ["ops-1", "ci-2"]
    both = configured_tokens({"TOKENS_FILE": str(f)}, {"NLPSVC_API_TOKENS": "a1"})
    assert both == ["a1", "ops-1", "ci-2"]
    assert configured_tokens({"API_TOKENS": ["x"]}, {"NLPSVC_API_TOKENS": "a1"}) == ["x"]
    # numeric tokens stay strings (Flask's prefixed env would have made 123 an int)
    assert configured_tokens({"API_TOKENS": 123}, {"NLPSVC_API_TOKENS": "123"}) == ["123"]


@pytest.mark.parametrize("text, where", [
    ("good\nbad token\n", "line 2"),
    ("# c\n\nok\nnot\ttab\n", "line 4"),
    ("ok\nöäü\n", "line 2"),
])
def test_malformed_tokens_file_names_the_line(tmp_path: Path, text: str, where: str) -> None:
    f = tmp_path / "tokens"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(TokenConfigError, match=where):
        read_tokens_file(f)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n   # another\n"])
def test_empty_token_list_is_refused(tmp_path: Path, text: str) -> None:
    f = tmp_path / "tokens"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(TokenConfigError, match="no token"):
        read_tokens_file(f)
    with pytest.raises(TokenConfigError, match="no token"):
        configured_tokens({}, {"NLPSVC_API_TOKENS": " , "})
    with pytest.raises(TokenConfigError, match="entry 1 is not a token"):
        configured_tokens({}, {"NLPSVC_API_TOKENS": "has space"})


def test_app_refuses_to_build_with_bad_tokens(make_app, models_root: Path,  # noqa: ANN001
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NLPSVC_API_TOKENS", "")
    with pytest.raises(TokenConfigError):
        make_app(models_root)


def test_serve_refuses_to_start(models_root: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI stops before gunicorn starts, naming the file and line."""
    f = tmp_path / "tokens"
    f.write_text("fine\nsecret with spaces\n", encoding="utf-8")
    assert cli(["serve", "--models", str(models_root), "--tokens-file", str(f)]) == 1
    assert "line 2" in capsys.readouterr().err
    f.write_text("# nothing\n", encoding="utf-8")
    assert cli(["serve", "--models", str(models_root), "--tokens-file", str(f)]) == 1
    assert "no token" in capsys.readouterr().err


def test_compare_checks_every_token() -> None:
    check = TokenCheck(["a" * 40, "b"])
    assert check.valid("a" * 40) and check.valid("b")
    assert not check.valid("a" * 39) and not check.valid("") and not check.valid("\udcff")


def test_openapi_declares_the_bearer_scheme(secured, client) -> None:  # noqa: ANN001
    from openapi_spec_validator import validate

    spec = secured.get("/openapi.json").get_json()
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    post = spec["paths"]["/score"]["post"]
    assert post["security"] == [{"bearerAuth": []}] and "401" in post["responses"]
    assert "security" not in spec["paths"]["/health"]["get"]
    open_spec = client.get("/openapi.json").get_json()  # tokens off: no scheme
    assert "securitySchemes" not in open_spec["components"]
    assert "security" not in open_spec["paths"]["/score"]["post"]
