"""Every proper estimator is a probability distribution: for every context seen (and some not),
log10 p(w | h) from the query model sums to 1 over the predictable words within 1e-9.

The predictable words are the vocabulary with ``<unk>`` and ``</s>``, without ``<s>`` (only ever a
context). Random small corpora come from hypothesis; the Kneser-Ney family falls back to given
discounts when a tiny corpus has no count-of-counts to estimate them from.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlpsvc.ngram.counts import count_ngrams
from nlpsvc.ngram.estimators import ESTIMATORS, estimator_class, get_estimator
from nlpsvc.ngram.model import NgramModel
from nlpsvc.ngram.vocab import BOS_ID

PROPER = [name for name in ESTIMATORS if estimator_class(name).proper]
FALLBACK = {
    "mkn": {"discount_fallback": (0.5, 1.0, 1.5)},
    "kn": {"discount": 0.5},
    "absolute": {"discount": 0.5},
}
PARAMS = {"addk": [{"k": 1}, {"k": 0.05}], "katz": [{}, {"k": 2}], "witten_bell": [{}]}

corpora = st.lists(
    st.lists(st.sampled_from("abcdefg"), min_size=0, max_size=10), min_size=1, max_size=10
).filter(lambda ss: any(ss))


def fit(name: str, counts, params: dict):
    try:
        return get_estimator(name, **params).fit(counts)
    except ValueError:
        if name not in FALLBACK:
            raise
        return get_estimator(name, **params, **FALLBACK[name]).fit(counts)


def histories(tables) -> list[list[str]]:
    """Every stored n-gram below the top order as a history, the empty one, two unseen ones."""
    words = tables.vocab
    out: list[list[str]] = [[]]
    for g in tables.grams[:-1]:
        out += [[words[i] for i in row] for row in g]
    out += [["never-seen"] * (tables.order - 1), ["<s>", "never-seen"][: tables.order - 1]]
    return out


def test_registry_marks_stupid_backoff_improper():
    assert "stupid_backoff" not in PROPER
    assert {"mle", "addk", "witten_bell", "katz", "absolute", "kn", "mkn"} <= set(PROPER)


@pytest.mark.parametrize("name", PROPER)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sents=corpora,
    order=st.integers(1, 4),
    which=st.integers(0, 1),
    prune=st.sampled_from([None, None, [0, 1], [0, 0, 1]]),
)
def test_distributions_sum_to_one(name, sents, order, which, prune):
    options = PARAMS.get(name, [{}])
    params = dict(options[which % len(options)])
    if prune and order == 1:
        prune = None
    if prune and name in FALLBACK:  # the Kneser-Ney family prunes inside estimation
        params["prune"] = prune
        prune = None
    counts = count_ngrams(sents, order, prune=prune)
    tables = fit(name, counts, params)
    assert tables.proper
    # float64: the estimator's distribution to 1e-9; the float32 a saved model stores rounds
    # each log10 p to 2**-24 relative, so that model is held to 1e-5 (below)
    model = NgramModel.from_tables(tables, dtype=np.float64)
    stored = NgramModel.from_tables(tables)
    predictable = np.ones(len(tables.vocab), dtype=bool)
    predictable[BOS_ID] = False
    # MLE is a distribution only where the context was seen followed by something.
    followed = {()}
    if name == "mle":
        for g in tables.grams[1:]:
            followed |= {tuple(tables.vocab[i] for i in row[:-1]) for row in g}
    for h in histories(tables):
        if name == "mle" and tuple(h[-(order - 1):] if order > 1 else ()) not in followed:
            continue
        total = np.sum(10.0 ** model.next_logprobs(h)[predictable])
        assert abs(total - 1.0) < 1e-9, (h, total)
        total = np.sum(10.0 ** stored.next_logprobs(h)[predictable])
        assert abs(total - 1.0) < 1e-5, (h, total)


def test_stupid_backoff_scores_are_not_a_distribution():
    # "a b" and "a c": S(b|a) = S(c|a) = 1/2, and every other word adds 0.4·S(w) on top:
    # S(</s>|a) = 0.4·2/6, S(a|a) = 0.4·2/6, S(<unk>|a) = 0 → total 1 + 0.8/3.
    tables = get_estimator("stupid_backoff").fit(count_ngrams([["a", "b"], ["a", "c"]], 2))
    assert tables.proper is False
    lp = NgramModel.from_tables(tables, dtype=np.float64).next_logprobs(["a"])  # exact: 1e-12
    assert np.sum(10.0 ** lp[lp > -np.inf]) == pytest.approx(1 + 0.8 / 3, rel=1e-12)
