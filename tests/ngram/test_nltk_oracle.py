"""nltk.lm as the oracle: the same scores to 1e-9 once its conventions are reproduced.

Our counts are built from nltk's own padded sentences (``pad_both_ends``, n-1 ``<s>``/``</s>``)
with ``bos=eos=False``; every place where nltk.lm's conventions differ from nlpsvc's defaults is
tested explicitly below and written up in docs/ngram-conventions.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from nltk.lm import (
    MLE,
    KneserNeyInterpolated,
    Laplace,
    Lidstone,
    NgramCounter,
    StupidBackoff,
    WittenBellInterpolated,
)
from nltk.lm.preprocessing import pad_both_ends, padded_everygram_pipeline
from nltk.util import everygrams

from nlpsvc.ngram.counts import count_ngrams
from nlpsvc.ngram.estimators import get_estimator
from tests.conftest import SHARED_DATA
from tests.ngram.lookup import TableQuery

PTB = SHARED_DATA / "ptb"
# skipped without ../shared/data; with it, a missing PTB file fails (tests/conftest.py)
pytestmark = [pytest.mark.shared_data("ptb", "ptb.train.txt"),
              pytest.mark.shared_data("ptb", "ptb.valid.txt")]
N_TRAIN, N_TEST = 200, 40


def _read(name: str, n: int) -> list[list[str]]:
    # PTB's literal <unk> is an ordinary word to nltk but our unknown class: rename it (as the
    # KenLM references do) so both sides see the same words; the difference is tested below.
    with open(PTB / name, encoding="utf-8") as f:
        lines = [next(f) for _ in range(n)]
    return [line.replace("<unk>", "<unk_lit>").split() for line in lines]


@pytest.fixture(scope="module")
def train() -> list[list[str]]:
    return _read("ptb.train.txt", N_TRAIN)


@pytest.fixture(scope="module")
def pairs_by_order() -> dict[int, list[tuple[str, tuple[str, ...]]]]:
    """(word, full-length context) of every position of nltk-padded held-out text, plus unseen
    words in seen contexts and seen words in unseen contexts."""
    test = _read("ptb.valid.txt", N_TEST)
    out = {}
    for n in (1, 2, 3):
        pairs = []
        for s in test:
            p = list(pad_both_ends(s, n=n))
            pairs += [(p[i], tuple(p[i - n + 1 : i])) for i in range(n - 1, len(p))]
        extra = [("zyzzyva", h) for _, h in pairs[:20]]
        if n > 1:
            extra += [(w, ("zyzzyva",) * (n - 1)) for w, _ in pairs[:20]]
            extra += [(w, ("the", "zyzzyva")[-(n - 1) :]) for w, _ in pairs[20:40]]
        out[n] = pairs + extra
    return out


def fit_nltk(lm, train, n):
    lm.fit(*padded_everygram_pipeline(n, train))
    return lm


def ours(train, n, smoothing, **params) -> TableQuery:
    padded = [list(pad_both_ends(s, n=n)) for s in train]
    counts = count_ngrams(padded, n, bos=False, eos=False)
    return TableQuery(get_estimator(smoothing, **params).fit(counts))


def assert_same_scores(lm, q: TableQuery, pairs) -> None:
    got = np.array([q.log10([w], h)[0] for w, h in pairs])
    want = np.array([lm.score(w, h) for w, h in pairs])
    with np.errstate(divide="ignore"):
        want_log = np.log10(want)
    assert np.array_equal(np.isinf(got), np.isinf(want_log)), "zero probabilities differ"
    fin = np.isfinite(want_log)
    np.testing.assert_allclose(got[fin], want_log[fin], rtol=0, atol=1e-9)
    np.testing.assert_allclose(10.0 ** got, want, rtol=1e-9, atol=0)


CASES = [
    ("mle", MLE, {}, {}),
    ("laplace", Laplace, {}, {"smoothing": "addk", "k": 1}),
    ("lidstone", lambda n: Lidstone(0.3, n), {}, {"smoothing": "addk", "k": 0.3}),
    ("witten_bell", WittenBellInterpolated, {}, {"smoothing": "witten_bell", "base": "ml"}),
    ("stupid_backoff", lambda n: StupidBackoff(0.4, n), {}, {"smoothing": "stupid_backoff"}),
]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize(("name", "make", "_unused", "spec"), CASES, ids=[c[0] for c in CASES])
def test_same_scores_as_nltk(name, make, _unused, spec, n, train, pairs_by_order):
    spec = dict(spec)
    smoothing = spec.pop("smoothing", name)
    lm = fit_nltk(make(n), train, n)
    assert_same_scores(lm, ours(train, n, smoothing, **spec), pairs_by_order[n])


# --- Conventions where nltk.lm differs, each tested ------------------------------------------


def test_counts_of_nltk_padding_are_nltk_counts(train):
    """bos=eos=False on pad_both_ends text gives exactly nltk's NgramCounter counts."""
    n = 3
    padded = [list(pad_both_ends(s, n=n)) for s in train[:50]]
    ref = NgramCounter(everygrams(p, max_len=n) for p in padded)
    counts = count_ngrams(padded, n, bos=False, eos=False)
    words = counts.vocab.words
    for o in range(1, n + 1):
        for row, c in zip(counts.grams[o - 1], counts.counts[o - 1], strict=True):
            g = tuple(words[i] for i in row)
            want = ref[g[0]] if o == 1 else ref[list(g[:-1])][g[-1]]
            assert c == want, g
        total = sum(d.N() for d in ref[o].values()) if o > 1 else ref.unigrams.N()
        assert counts.counts[o - 1].sum() == total


def test_padding_differs_from_ours(train):
    """nltk pads n-1 markers each side; we pad one <s> and one </s> (KenLM)."""
    nl = count_ngrams([list(pad_both_ends(s, n=3)) for s in train[:20]], 3, bos=False, eos=False)
    ours_ = count_ngrams(train[:20], 3)
    assert nl.count_of(["</s>", "</s>"]) == 20 and ours_.count_of(["</s>", "</s>"]) == 0
    assert nl.count_of(["<s>", "<s>"]) == 20 and ours_.count_of(["<s>", "<s>"]) == 0
    assert nl.counts[0][2] == 40 and ours_.counts[0][2] == 20  # </s> unigrams


def test_unknown_label_and_literal_unk(train):
    """nltk's unknown label is <UNK>, an entry apart from a literal <unk> word; ours is <unk>,
    and a literal <unk> in training text IS the unknown class (SRILM's convention)."""
    n = 2
    raw = [s + ["the", "<unk>"] for s in train[:50]]  # a literal "the <unk>" in each
    lm = fit_nltk(Laplace(n), raw, n)
    q = ours(raw, n, "addk", k=1)
    h = ("the",)
    assert lm.score("zyzzyva", h) == lm.score("<UNK>", h) != lm.score("<unk>", h)
    assert q.log10(["zyzzyva"], h)[0] == q.log10(["<unk>"], h)[0] == q.log10(["<UNK>"], h)[0]
    assert "<UNK>" not in q.ids
    # So our event space has one entry fewer than nltk's vocabulary (<UNK> and <unk> merged).
    assert q.t.params["events"] == len(lm.vocab) - 1


def test_log_base(train, pairs_by_order):
    """nltk's logscore is log2; every nlpsvc log probability is log10."""
    lm = fit_nltk(Laplace(2), train, 2)
    q = ours(train, 2, "addk", k=1)
    for w, h in pairs_by_order[2][:50]:
        assert q.log10([w], h)[0] * math.log2(10) == pytest.approx(lm.logscore(w, h), abs=1e-9)


def test_addk_short_context_differs(train):
    """nltk scores a context shorter than n-1 with that order's own add-k counts; our ARPA form
    keeps only the full-length add-k distribution (lower orders uniform), except for histories
    that start a sentence with our one-<s> padding (see addk.py)."""
    lm = fit_nltk(Laplace(3), train, 3)
    q = ours(train, 3, "addk", k=1)
    V = q.t.params["events"]
    assert 10.0 ** q.log10(["said"], ("company",))[0] == pytest.approx(1 / V, rel=1e-12)
    assert lm.score("said", ("company",)) > 2 / V


def test_witten_bell_unigram_base_differs(train):
    """nltk ends the Witten-Bell recursion in relative frequencies (an unseen word gets 0);
    our default ``base='uniform'`` interpolates the unigrams with the uniform distribution."""
    lm = fit_nltk(WittenBellInterpolated(2), train, 2)
    ml = ours(train, 2, "witten_bell", base="ml")
    uni = ours(train, 2, "witten_bell")
    assert lm.score("zyzzyva", ("the",)) == 0 and ml.log10(["zyzzyva"], ("the",))[0] == -np.inf
    assert 0 < 10.0 ** uni.log10(["zyzzyva"], ("the",))[0] < 1e-3


def test_kneser_ney_against_nltk(train):
    """nltk's KneserNeyInterpolated vs our ``kn`` with its one discount for all orders.

    p(w|h) = alpha(h, w) + gamma(h) p(w|h') in both. They agree on alpha and gamma for the top
    order and for lower-order contexts not starting with <s> (continuation counts in both).
    They differ, by design, in two places: (1) n-grams starting with <s> keep raw counts in
    ours (KenLM's adjusted-count rule) but get continuation counts in nltk; (2) our unigrams are
    discounted and interpolated with the uniform distribution (so <unk> has mass), nltk's are
    plain continuation frequencies N1+(. w) / N1+(. .). Whole probabilities therefore differ.
    """
    n, d = 3, 0.1
    lm = fit_nltk(KneserNeyInterpolated(n, discount=d), train, n)
    q = ours(train, n, "kn", discount=d)
    from nlpsvc.ngram.estimators._ops import NgramIndex

    idx = NgramIndex(q.t.grams, len(q.t.vocab))

    def alpha_gamma(w: str, h: tuple[str, ...]) -> tuple[float, float]:
        r = idx.find(np.array([[q.id(x) for x in h]]))[0]
        gamma = 10.0 ** q.t.backoff[len(h) - 1][r]
        p = 10.0 ** q.log10([w], h)[0]
        return p - gamma * 10.0 ** q.log10([w], h[1:])[0], gamma

    words = q.t.vocab
    tri = q.t.grams[2][:: max(1, len(q.t.grams[2]) // 150)]
    checked = 0
    for row in tri:
        h, w = tuple(words[i] for i in row[:2]), words[row[2]]
        for hh in (h, h[1:]):
            if hh[0] == "<s>":
                continue
            a, g = alpha_gamma(w, hh)
            a_ref, g_ref = lm.estimator.alpha_gamma(w, hh)
            assert a == pytest.approx(a_ref, abs=1e-9) and g == pytest.approx(g_ref, abs=1e-9)
            checked += 1
    assert checked > 100
    # (1) <s>-initial contexts: raw counts (ours) vs continuation counts (nltk).
    assert alpha_gamma("the", ("<s>",))[0] != pytest.approx(
        lm.estimator.alpha_gamma("the", ("<s>",))[0], abs=1e-3
    )
    # (2) Unigrams: nltk gives an unseen word 0, ours the uniform share.
    assert lm.score("zyzzyva") == 0 and q.log10(["zyzzyva"], ())[0] > -np.inf
