"""``POST /similar`` over the Flask test client, on tiny word2vec and fastText models."""

from __future__ import annotations

import pytest


def post(client, body: object):  # noqa: ANN001, ANN201
    return client.post("/similar", json=body)


def test_nearest_neighbours(client) -> None:
    r = post(client, {"model": "books", "word": "Alice", "topn": 7})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["model"] == "books" and body["oov"] is False
    words = [x["word"] for x in body["results"]]
    scores = [x["score"] for x in body["results"]]
    assert len(words) == 7 and "alice" not in words
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert "vector" not in body


def test_vector_lookup(client) -> None:
    body = post(client, {"model": "books", "word": "queen", "vector": True, "topn": 1}).get_json()
    assert len(body["vector"]) == 24 and all(isinstance(x, float) for x in body["vector"])


def test_analogy(client) -> None:
    r = post(client, {"model": "books", "positive": ["king", "woman"], "negative": ["man"],
                      "topn": 5})
    assert r.status_code == 200, r.get_json()
    words = [x["word"] for x in r.get_json()["results"]]
    assert len(words) == 5 and not {"king", "woman", "man"} & set(words)


def test_pairs(client) -> None:
    r = post(client, {"model": "books", "pairs": [["alice", "queen"], ["Alice", "alice"]]})
    assert r.status_code == 200, r.get_json()
    res = r.get_json()["results"]
    assert [x["words"] for x in res] == [["alice", "queen"], ["Alice", "alice"]]
    assert res[1]["score"] == pytest.approx(1.0, abs=1e-5) and res[0]["score"] < 1
    assert r.get_json()["oov"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [({"word": "qwzxunseen"}, "word"),
     ({"positive": ["king", "qwzxunseen"]}, "positive[1]"),
     ({"positive": ["king"], "negative": ["qwzxunseen"]}, "negative[0]"),
     ({"pairs": [["king", "queen"], ["king", "qwzxunseen"]]}, "pairs[1][1]")],
)
def test_word2vec_unknown_word_is_404(client, body: dict, field: str) -> None:
    r = post(client, {"model": "books", **body})
    assert r.status_code == 404
    err = r.get_json()["error"]
    assert err["code"] == "unknown_word" and err["field"] == field


def test_fasttext_answers_unseen_words(client) -> None:
    r = post(client, {"model": "booksft", "word": "qwzxunseen", "topn": 3})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["oov"] is True and len(body["results"]) == 3
    seen = post(client, {"model": "booksft", "word": "alice"}).get_json()
    assert seen["oov"] is False
    pairs = post(client, {"model": "booksft", "pairs": [["alice", "alicey"]]}).get_json()
    assert pairs["oov"] is True and pairs["results"][0]["oov"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "word"),
     ({"word": 5}, "word"),
     ({"word": ""}, "word"),
     ({"word": "king", "topn": 0}, "topn"),
     ({"word": "king", "topn": -3}, "topn"),
     ({"word": "king", "topn": 10**9}, "topn"),
     ({"word": "king", "topn": "5"}, "topn"),
     ({"word": "king", "topn": True}, "topn"),
     ({"word": "king", "vector": "yes"}, "vector"),
     ({"positive": []}, "positive"),
     ({"positive": "king"}, "positive"),
     ({"positive": ["king", 3]}, "positive[1]"),
     ({"positive": ["king", None]}, "positive[1]"),
     ({"positive": ["king"], "negative": [["man"]]}, "negative[0]"),
     ({"negative": ["man"]}, "positive"),
     ({"pairs": []}, "pairs"),
     ({"pairs": [["king"]]}, "pairs[0]"),
     ({"pairs": [["king", 1]]}, "pairs[0][1]"),
     ({"pairs": "king queen"}, "pairs"),
     ({"word": "king", "pairs": [["a", "b"]]}, "word"),
     ({"word": "king", "model": 3}, "model")],
)
def test_validation_is_422(client, body: dict, field: str) -> None:
    r = post(client, {"model": "books", **body} if "model" not in body else body)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["field"] == field


@pytest.mark.parametrize("model", ["books", "booksft"])
@pytest.mark.parametrize(("body", "field"), [
    ({"word": "\ud800"}, "word"),
    ({"word": "\ud800", "vector": True}, "word"),
    ({"positive": ["king", "a\udfff"]}, "positive[1]"),
    ({"pairs": [["\ud800", "queen"]]}, "pairs[0][0]"),
])
def test_lone_surrogates_are_422(client, model: str, body: dict, field: str) -> None:
    """Issue 14 (as /classify's defect 3): fastText's n-gram hash raised UnicodeEncodeError
    (500). A word must be valid Unicode, whatever the model."""
    r = post(client, {"model": model, **body})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["field"] == field


def test_errors_outside_validation(client) -> None:
    assert post(client, {"model": "nope", "word": "king"}).status_code == 404
    r = client.post("/similar", data="word=king", content_type="text/plain")
    assert r.status_code == 415
    # Two model sets are loaded: the request must name one.
    assert post(client, {"word": "king"}).get_json()["error"]["field"] == "model"


def test_openapi_describes_similar(client) -> None:
    spec = client.get("/openapi.json").get_json()
    post_op = spec["paths"]["/similar"]["post"]
    assert {"200", "404", "422"} <= set(post_op["responses"])
    props = post_op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"word", "positive", "negative", "pairs", "topn"} <= set(props)
