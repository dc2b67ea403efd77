"""LM results in the /score format: log10, sentence end counted, no infinities in JSON."""

from __future__ import annotations

import json

import pytest

from nlpsvc import ngram
from nlpsvc.scoring import LanguageModel
from nlpsvc.text import TextConfig, Tokenizer

SENTS = [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat", "ran"]]


def test_mle_zero_probability_is_null_not_infinity() -> None:
    lm = LanguageModel(ngram.train(SENTS, order=2, smoothing="mle"), Tokenizer())
    (seen, unseen) = lm.score_texts(["the cat sat", "sat the cat"], per_token=True)
    assert seen["log10_prob"] < 0 and seen["tokens"] == 4  # 3 words + </s>
    assert unseen["log10_prob"] is None and unseen["perplexity"] is None
    json.dumps([seen, unseen], allow_nan=False)  # valid JSON: no Infinity/NaN
    assert [t["token"] for t in seen["per_token"]] == ["the", "cat", "sat", "</s>"]


def test_tokenizer_of_the_model_is_used() -> None:
    model = ngram.train(SENTS, order=2, smoothing="kn")
    cased = LanguageModel(model, Tokenizer(TextConfig(lowercase=False)))
    lower = LanguageModel(model, Tokenizer(TextConfig(lowercase=True)))
    assert cased.score_texts(["The Cat"])[0]["oov"] == 2
    assert lower.score_texts(["The Cat"])[0]["oov"] == 0


def test_evaluate_counts_sentence_ends_and_skips_empty_lines() -> None:
    lm = LanguageModel(ngram.train(SENTS, order=2, smoothing="kn"), Tokenizer())
    ev = lm.evaluate(["the cat sat", "", "   ", "a dog"])
    assert ev["tokens"] == 4 + 3 and ev["sentences"] == 2 and ev["oov"] == 0
    assert ev["perplexity"] == pytest.approx(10 ** (-ev["log10_prob"] / ev["tokens"]))
    with pytest.raises(ValueError):
        lm.evaluate(["", " "])


@pytest.mark.parametrize("lowercase", [True, False])
def test_whitespace_batches_score_their_lines_as_token_lists(lowercase) -> None:
    """A batch for a whitespace tokenizer goes to the n-gram model's ``score_lines``; its
    results are the token lists' (runs of spaces, tabs, an empty text, NFKC, case)."""
    model = ngram.train(SENTS, order=3, smoothing="kn", discount_fallback=0.7)
    tok = Tokenizer(TextConfig(tokenizer="whitespace", lowercase=lowercase))
    lm = LanguageModel(model, tok)
    texts = ["the cat sat", "The  DOG\tsat ", "", "ａ cat ran", "a cat ran", "the dog sat"]
    want = [dict(r.to_dict(), text=t) for t, r in
            zip(texts, model.score_batch([tok(t) for t in texts]), strict=True)]
    got = lm.score_texts(texts)
    assert [g["log10_prob"] for g in got] == [w["log10_prob"] for w in want]
    assert [(g["tokens"], g["oov"], g["text"]) for g in got] == [
        (w["tokens"], w["oov"], w["text"]) for w in want]
    clean = [t for t in texts if t and "  " not in t and "\t" not in t and t.isascii()]
    assert model.score_lines([tok.normalize(t) for t in clean]) == model.score_batch(
        [tok(t) for t in clean])  # these go to the compiled reading
