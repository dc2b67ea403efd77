"""The LSTM LM as a scorer: conventions equal to the n-gram model's, save/load, the mix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlpsvc import ngram
from nlpsvc.lstm.lm import FILES, LstmLM
from nlpsvc.lstm.mix import MixModel, interpolate, tune_lambda
from tests.lstm.conftest import SENTENCES

TEXTS = [
    "the cat sat on the mat".split(),
    "the zebra sat".split(),  # zebra: out of the vocabulary
    [],  # empty after tokenisation: scored as </s> only
    "<unk> ran in the park".split(),  # a literal <unk> is the unknown class
    "a bird sang on the mat and the dog ran".split(),
]


def test_overfits_a_tiny_corpus(overfit) -> None:  # noqa: ANN001
    lm, result = overfit
    first = result.history[0]["valid_ppl"]
    assert result.best_valid_ppl < 2.0 < first  # uniform over ~16 words would be ~16
    assert lm.evaluate(SENTENCES)["perplexity"] == pytest.approx(result.best_valid_ppl)
    # the memorised continuation is by far the likeliest
    lp = lm.next_log10probs("the cat sat on the".split())
    assert lm.vocab.words[int(np.argmax(lp))] == "mat"


def test_save_load_gives_identical_scores(overfit, tmp_path: Path) -> None:  # noqa: ANN001
    lm, _ = overfit
    lm.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)  # no pickle file
    again = LstmLM.load(tmp_path)
    a = lm.score_batch(TEXTS, per_token=True)
    b = again.score_batch(TEXTS, per_token=True)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]


def test_probabilities_sum_to_one(overfit) -> None:  # noqa: ANN001
    lm, _ = overfit
    rng = np.random.default_rng(0)
    words = lm.vocab.words[3:]
    for n in (0, 1, 3, 7):
        context = [str(w) for w in rng.choice(words, n)]
        lp = lm.next_log10probs(context)
        assert lp.shape == (len(lm.vocab),)
        assert float(np.sum(10.0 ** lp)) == pytest.approx(1.0, abs=1e-6)


def test_per_token_output_matches_the_ngram_models(overfit) -> None:  # noqa: ANN001
    lm, _ = overfit
    ng = ngram.train(SENTENCES, order=3, smoothing="kn")
    assert set(ng.vocab.words) == set(lm.vocab.words)
    for a, b in zip(lm.score_batch(TEXTS, per_token=True), ng.score_batch(TEXTS, per_token=True),
                    strict=True):
        assert [t.token for t in a.per_token] == [t.token for t in b.per_token]
        assert [t.oov for t in a.per_token] == [t.oov for t in b.per_token]
        assert (a.tokens, a.oov) == (b.tokens, b.oov)
        assert a.log10_prob == pytest.approx(sum(t.log10_prob for t in a.per_token))
        assert [t.ngram_order for t in a.per_token] == list(range(2, a.tokens + 2))
    empty = lm.score([], per_token=True)
    assert empty.tokens == 1 and [t.token for t in empty.per_token] == ["</s>"]
    assert lm.evaluate(TEXTS)["tokens"] == ng.evaluate(TEXTS)["tokens"]
    assert lm.evaluate(TEXTS)["oov"] == ng.evaluate(TEXTS)["oov"] == 3  # zebra, <unk>, and


def test_each_sentence_is_scored_on_its_own(overfit) -> None:  # noqa: ANN001
    lm, _ = overfit
    batch = lm.score_batch(TEXTS)
    alone = [lm.score(t) for t in TEXTS]
    reordered = lm.score_batch(TEXTS[::-1])[::-1]
    for a, b, c in zip(batch, alone, reordered, strict=True):
        assert a.log10_prob == pytest.approx(b.log10_prob, abs=1e-5)
        assert a.log10_prob == pytest.approx(c.log10_prob, abs=1e-5)
    with pytest.raises(TypeError, match="token lists"):
        lm.score_batch(["a string"])


def test_mix_endpoints_equal_each_model(overfit) -> None:  # noqa: ANN001
    lm, _ = overfit
    ng = ngram.train(SENTENCES, order=2, smoothing="kn")
    for lam, ref in ((0.0, ng), (1.0, lm)):
        got = MixModel(lm, ng, lam).score_batch(TEXTS, per_token=True)
        want = ref.score_batch(TEXTS, per_token=True)
        for g, w in zip(got, want, strict=True):
            assert g.log10_prob == pytest.approx(w.log10_prob, abs=1e-9)
            assert [t.log10_prob for t in g.per_token] == pytest.approx(
                [t.log10_prob for t in w.per_token], abs=1e-9)
    half = MixModel(lm, ng, 0.5).score_batch(TEXTS[:1], per_token=True)[0]
    a, b = lm.score(TEXTS[0], per_token=True), ng.score(TEXTS[0], per_token=True)
    want = [np.log10(0.5 * 10 ** x.log10_prob + 0.5 * 10 ** y.log10_prob)
            for x, y in zip(a.per_token, b.per_token, strict=True)]
    assert [t.log10_prob for t in half.per_token] == pytest.approx(want, abs=1e-9)
    with pytest.raises(ValueError, match="λ"):
        MixModel(lm, ng, 1.5)


def test_tune_lambda_finds_the_better_weight() -> None:
    rng = np.random.default_rng(1)
    a = np.log10(rng.uniform(0.01, 0.5, 500))
    b = np.log10(rng.uniform(0.01, 0.5, 500))
    lam = tune_lambda(a, b)
    grid = np.linspace(0, 1, 1001)
    best = grid[np.argmax([interpolate(a, b, g).sum() for g in grid])]
    assert lam == pytest.approx(best, abs=2e-3)
    assert tune_lambda(a, a - 3) == 1.0  # the n-gram model adds nothing: all weight on the LSTM


def test_adaptive_softmax_trains_sums_to_one_and_round_trips(tmp_path: Path) -> None:
    from nlpsvc.lstm.train import fit
    from tests.lstm.conftest import make_lm

    lm, batches, cfg = make_lm(SENTENCES, softmax="adaptive", tie_weights=False, cutoffs=[8],
                               epochs=25)
    assert lm.net.adaptive is not None and lm.net.decoder is None
    result = fit(lm, batches, SENTENCES, cfg, progress=False)
    assert result.best_valid_ppl < 2.5 < result.history[0]["valid_ppl"]
    for context in ([], ["the"], ["a", "bird"]):
        assert float(np.sum(10.0 ** lm.next_log10probs(context))) == pytest.approx(1.0, abs=1e-6)
    lm.save(tmp_path)
    again = LstmLM.load(tmp_path)
    assert [r.to_dict() for r in lm.score_batch(TEXTS, per_token=True)] == [
        r.to_dict() for r in again.score_batch(TEXTS, per_token=True)]
    # the scored target equals the full distribution's entry
    full = lm.next_log10probs(["the"])
    cat = lm.score(["the", "cat"], per_token=True).per_token[1].log10_prob
    assert cat == pytest.approx(float(full[lm.vocab.id("cat")]), abs=1e-6)
