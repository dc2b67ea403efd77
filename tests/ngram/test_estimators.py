"""Estimators against the plain-Python reference, a hand-worked Katz example, bad parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpsvc.ngram.counts import count_ngrams
from nlpsvc.ngram.estimators import get_estimator
from nlpsvc.ngram.estimators.katz import (
    discounts_for,
    katz_discounts,
    sgt_counts,
    srilm_discounts,
)
from tests.ngram import reference as R
from tests.ngram.lookup import TableQuery

corpora = st.lists(
    st.lists(st.sampled_from("abcde"), min_size=0, max_size=8), min_size=1, max_size=8
).filter(lambda ss: any(ss))


def contexts(rc: R.RefCounts, order: int) -> set[tuple[str, ...]]:
    """Every history the model can be asked about: stored ones, their suffixes, an unseen one."""
    out = {()}
    for g in rc.c:
        for j in range(len(g)):
            h = g[j:]
            if len(h) <= order - 1:
                out.add(h)
    out.add(("zz",) * (order - 1))
    out.add(("a", "<s>", "b")[: order - 1])
    return out


def check_against(rc: R.RefCounts, tables, ref, skip_inner_bos: bool = False) -> None:
    q = TableQuery(tables)
    for h in contexts(rc, rc.order):
        if skip_inner_bos and R.BOS in h[1:]:
            continue
        ours = 10.0 ** q.log10(rc.events, h)
        hh = tuple(x if x in q.ids else R.UNK for x in h)
        want = np.array([ref(w, hh) for w in rc.events])
        np.testing.assert_allclose(ours, want, rtol=1e-10, atol=1e-12, err_msg=f"context {h}")


@settings(max_examples=25, deadline=None)
@given(corpora, st.integers(1, 4), st.sampled_from([0.01, 0.5, 1.0, 2.0]))
def test_addk_matches_reference(sents, order, k):
    rc = R.RefCounts(sents, order)
    tables = get_estimator("addk", k=k).fit(count_ngrams(sents, order))
    # A history with <s> after a word cannot occur in padded text; add-k scores it from its
    # <s>-initial suffix (see addk.py), where the reference would say "unseen, uniform".
    check_against(rc, tables, lambda w, h: R.addk(rc, w, h, k), skip_inner_bos=True)


@settings(max_examples=25, deadline=None)
@given(corpora, st.integers(1, 4))
def test_witten_bell_matches_reference(sents, order):
    rc = R.RefCounts(sents, order)
    tables = get_estimator("witten_bell").fit(count_ngrams(sents, order))
    check_against(rc, tables, lambda w, h: R.witten_bell(rc, w, h))


@settings(max_examples=25, deadline=None)
@given(corpora, st.integers(1, 4), st.integers(0, 5))
def test_katz_matches_reference(sents, order, k):
    rc = R.RefCounts(sents, order)
    tables = get_estimator("katz", k=k).fit(count_ngrams(sents, order))
    disc = tables.params["discounts"]
    check_against(rc, tables, lambda w, h: R.katz(rc, w, h, disc))


@settings(max_examples=25, deadline=None)
@given(corpora, st.integers(1, 4))
def test_mle_and_stupid_backoff_are_relative_frequencies(sents, order):
    rc = R.RefCounts(sents, order)
    counts = count_ngrams(sents, order)
    mle = TableQuery(get_estimator("mle").fit(counts))
    sb = TableQuery(get_estimator("stupid_backoff", alpha=0.25).fit(counts))

    def score(w: str, h: tuple[str, ...]) -> float:  # Brants et al. 2007, eq. 5
        if not h:
            return rc.count((w,)) / rc.total[()]
        if rc.count((*h, w)) > 0:
            return rc.count((*h, w)) / rc.total[h]
        return 0.25 * score(w, h[1:])

    for h in contexts(rc, order):
        hh = tuple(x if x in mle.ids else R.UNK for x in h)
        got = 10.0 ** mle.log10(rc.events, h)
        want = [rc.count((*hh, w)) / rc.total[hh] if rc.total[hh] else 0.0 for w in rc.events]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
        np.testing.assert_allclose(
            10.0 ** sb.log10(rc.events, h), [score(w, hh) for w in rc.events], rtol=1e-12
        )


# --- Good-Turing / Katz, worked by hand -------------------------------------------------------
# One sentence "a b c d e g g h h i i i": unigram events <unk>, </s>, a..e, g, h, i with counts
# a..e = 1, </s> = 1 (six singletons), g = h = 2, i = 3, <unk> = 0; N = 13.
# n1 = 6, n2 = 2, n3 = 1; with Katz's threshold k = 2: A = (k+1) n3 / n1 = 1/2,
# d1 = (2·n2/n1 / 1 - A) / (1 - A) = (2/3 - 1/2) / (1/2) = 1/3,
# d2 = (3·n3/n2 / 2 - A) / (1 - A) = (3/4 - 1/2) / (1/2) = 1/2.
# p(a) = d1·1/13 = 1/39, p(g) = d2·2/13 = 1/13, p(i) = 3/13 (count 3 > k: not discounted);
# kept mass 6/39 + 2/13 + 3/13 = 7/13, so the only unseen event <unk> gets 6/13.
HAND = [["a", "b", "c", "d", "e", "g", "g", "h", "h", "i", "i", "i"]]


def test_katz_unigram_hand_example():
    tables = get_estimator("katz", k=2).fit(count_ngrams(HAND, 1))
    assert tables.params["gt_method"] == ["katz"]
    np.testing.assert_allclose(tables.params["discounts"][0], [1 / 3, 1 / 2], rtol=1e-12)
    q = TableQuery(tables)
    got = 10.0 ** q.log10(["a", "</s>", "g", "i", "<unk>", "never-seen"], [])
    np.testing.assert_allclose(got, [1 / 39, 1 / 39, 1 / 13, 3 / 13, 6 / 13, 6 / 13], rtol=1e-12)


def test_katz_bigram_hand_example_uses_simple_good_turing():
    # Bigrams: (i i) twice, eleven others once: n1 = 11, n2 = 1, n3 = 0, so Katz's formula is
    # undefined and Simple Good-Turing takes over. Z_1 = 11 / (0.5·(2 - 0)) = 11,
    # Z_2 = 1 / (0.5·(3 - 1)) = 1 (last point: t = 2·2 - 1); the line through (log 1, log 11)
    # and (log 2, log 1) has slope b = -log2(11) < -1, so S(r) = 11·r^b.
    tables = get_estimator("katz", k=2).fit(count_ngrams(HAND, 2))
    assert tables.params["gt_method"] == ["katz", "simple_good_turing"]
    b = -math.log2(11)
    S = [11 * r**b for r in (1, 2, 3)]
    A = 3 * S[2] / S[0]
    d1 = (2 * S[1] / S[0] - A) / (1 - A)
    d2 = (3 * S[2] / S[1] / 2 - A) / (1 - A)
    np.testing.assert_allclose(tables.params["discounts"][1], [d1, d2], rtol=1e-12)
    q = TableQuery(tables)
    p_uni = {w: 10.0 ** q.log10([w], [])[0] for w in ["b", "c", "i", "</s>"]}
    # Seen: p(b | a) = d1·1/1; p(i | i) = d2·2/3 (i is followed by i, i, </s>).
    assert 10.0 ** q.log10(["b"], ["a"])[0] == pytest.approx(d1, rel=1e-12)
    assert 10.0 ** q.log10(["i"], ["i"])[0] == pytest.approx(d2 * 2 / 3, rel=1e-12)
    # Unseen: p(c | a) = alpha(a)·p(c), alpha(a) = (1 - d1) / (1 - p(b)).
    alpha = (1 - d1) / (1 - p_uni["b"])
    assert 10.0 ** q.log10(["c"], ["a"])[0] == pytest.approx(alpha * p_uni["c"], rel=1e-12)
    # p(</s> | i) = d1·1/3 (seen once).
    assert 10.0 ** q.log10(["</s>"], ["i"])[0] == pytest.approx(d1 / 3, rel=1e-12)


def test_good_turing_fallbacks():
    # Raw Katz needs n1..n_{k+1} > 0.
    assert katz_discounts(np.array([0, 6, 2, 1.0]), 2) is not None
    assert katz_discounts(np.array([0, 6, 0, 1.0]), 2) is None
    # One distinct count: no line to fit; SRILM's rule leaves every count undiscounted.
    assert sgt_counts(np.array([1, 1, 1]), 3) is None
    d, method = discounts_for(np.array([1, 1, 1]), 5)
    assert method == "srilm" and (d == 1).all()
    # SRILM lowers k while n_{k+1} = 0: n1 = 6, n2 = 2, n3 = 1, n4 = 0 with k = 5 → k = 2,
    # A = 3·1/6, d1 = 1/3, d2 = 1/2 (the hand example above), counts 3..5 undiscounted.
    np.testing.assert_allclose(
        srilm_discounts(np.array([0, 6, 2, 1, 0, 0, 0.0]), 5), [1, 1 / 3, 1 / 2, 1, 1, 1]
    )
    # No singletons: discounting disabled.
    assert (srilm_discounts(np.array([0, 0, 2, 1, 1, 1, 1.0]), 5) == 1).all()
    # n = 10, 6, 3, 1 with k = 3: A = 4/10; r*/r for r = 1 is 12/10 > 1, out of range → 1;
    # r = 2: (9/12 - 0.4) / 0.6 = 7/12; r = 3: (4/9 - 0.4) / 0.6 = 2/27.
    np.testing.assert_allclose(
        srilm_discounts(np.array([0, 10, 6, 3, 1.0]), 3), [1, 1, 7 / 12, 2 / 27]
    )
    # A flat count-of-counts (slope > -1) is rejected by Gale & Sampson's condition.
    assert sgt_counts(np.array([1, 2, 3, 4, 5, 6]), 6) is None
    # k = 0 disables discounting.
    d, method = discounts_for(np.array([1, 1, 2, 3]), 0)
    assert (d == 1).all()


# --- Parameters ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("addk", {"k": 0}, "k must be"),
        ("addk", {"k": -1.5}, "k must be"),
        ("addk", {"k": float("nan")}, "k must be"),
        ("addk", {"k": "1"}, "k must be"),
        ("addk", {"k": True}, "k must be"),
        ("addk", {"gamma": 1}, "unknown parameter"),
        ("stupid_backoff", {"alpha": 0}, r"alpha must be in \(0, 1\]"),
        ("stupid_backoff", {"alpha": 1.01}, r"alpha must be in \(0, 1\]"),
        ("stupid_backoff", {"alpha": None}, "alpha must be"),
        ("katz", {"k": -1}, "k .* must be an integer >= 0"),
        ("katz", {"k": 2.5}, "must be an integer"),
        ("witten_bell", {"base": "zipf"}, "base must be one of"),
        ("mle", {"k": 1}, "takes no parameters"),
    ],
)
def test_bad_parameters_are_rejected(name, params, message):
    counts = count_ngrams([["a", "b"]], 2)
    with pytest.raises(ValueError, match=message):
        get_estimator(name, **params).fit(counts)


def test_stupid_backoff_is_not_proper_and_alpha_one_is_allowed():
    counts = count_ngrams([["a", "b"], ["b", "a"]], 2)
    tables = get_estimator("stupid_backoff", alpha=1).fit(counts)
    assert tables.proper is False and tables.missing_backoff == 0.0
    assert get_estimator("stupid_backoff").fit(counts).params == {"alpha": 0.4}


# --- lmplz's count-of-counts statistic, worked by hand -----------------------------------------
# lmplz adds the n-grams still pending at the end of its suffix-ordered stream (the suffixes of
# the last top-order n-gram, up to <s>) to the count-of-counts with their RAW count, not their
# adjusted one. In every corpus below the last new word is z, so the pending n-grams end in z.
@pytest.mark.parametrize(
    "sents,order,changed",
    [
        # z follows only q: adjusted count 1, raw 2; "q z" follows only <s>: adjusted 1, raw 2.
        ([["a", "b"], ["b", "a"], ["a", "a", "b"], ["q", "z"], ["q", "z"]], 3,
         {("z",): (1, 2), ("q", "z"): (1, 2)}),
        # Same at order 4: the chain goes on to "<s> q z", whose adjusted count is already raw.
        ([["a", "b"], ["b", "a"], ["q", "z"], ["q", "z"]], 4,
         {("z",): (1, 2), ("q", "z"): (1, 2)}),
        # z only starts sentences: "z" (adjusted 1: only <s> before it) changes, the chain stops
        # at "<s> z" (raw count, as every <s>-initial n-gram).
        ([["a", "b"], ["b", "a"], ["z"], ["z", "a"]], 3, {("z",): (1, 2)}),
        # The last word's counts fall in the same bucket: nothing changes.
        ([["a", "b"], ["b", "a"], ["z"]], 3, {}),
    ],
)
def test_kenlm_stat_counts_use_raw_counts_of_the_last_pending_ngrams(sents, order, changed):
    from nlpsvc.ngram.counts import structure
    from nlpsvc.ngram.estimators.kneser_ney import adjusted_counts, kenlm_stat_counts

    c = count_ngrams(sents, order)
    st_ = structure(c.grams, len(c.vocab))
    adj = adjusted_counts(c.grams, st_, c.counts)
    stat = kenlm_stat_counts(c.grams, st_, c.counts, adj)
    got = {}
    for o in range(order):
        for row in np.flatnonzero(stat[o] != adj[o]):
            words = tuple(c.vocab.word(int(i)) for i in c.grams[o][row])
            got[words] = (int(adj[o][row]), int(stat[o][row]))
    assert got == changed
    assert stat[order - 1] is adj[order - 1]  # the top order is never touched
