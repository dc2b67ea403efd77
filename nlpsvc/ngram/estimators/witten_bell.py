"""Interpolated Witten-Bell smoothing (Witten & Bell 1991; Chen & Goodman 1998, §2.5).

p(w | h) = (c(h w) + T(h) · p(w | h')) / (c(h •) + T(h)), where T(h) is the number of distinct
words seen after h and h' is h without its oldest word. A context never seen (or seen with no
following word) passes straight to p(w | h'), as nltk.lm's ``WittenBellInterpolated`` does.

The recursion ends in a unigram distribution chosen by ``base``:
- ``"uniform"`` (default): the unigram level is itself Witten-Bell-interpolated with the
  uniform distribution over the predictable words E, so every word, ``<unk>`` included, has a
  non-zero probability (Chen & Goodman's zeroth-order end of the recursion).
- ``"ml"``: plain relative frequency c(w) / c(•), nltk.lm's ``WittenBell.unigram_score``; a word
  never seen in training (``<unk>``) then gets probability 0.

ARPA form: each seen n-gram stores the interpolated probability, each seen context the backoff
log10 T(h) / (c(h •) + T(h)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpsvc.ngram.estimators._ops import log10, prepare, query
from nlpsvc.ngram.estimators.base import Estimator
from nlpsvc.ngram.tables import BackoffTables

BASES = ("uniform", "ml")


def witten_bell_tables(counts: Any, base: str = "uniform") -> BackoffTables:
    """ARPA tables of the interpolated Witten-Bell model of ``counts``."""
    if base not in BASES:
        raise ValueError(f"witten_bell: base must be one of {BASES}, got {base!r}")
    P = prepare(counts)
    ev = P.unigram_event()
    c1 = P.counts[0].astype(np.float64)
    n1, t1 = c1.sum(), float((c1 > 0).sum())
    if base == "ml":
        p1 = c1 / n1
    else:
        p1 = np.where(ev, (c1 + t1 / P.n_events) / (n1 + t1), 0.0)
    logprob = [log10(p1)]
    backoff = [np.zeros(len(g)) for g in P.grams]
    for o in range(2, P.order + 1):
        ctx = P.stats.ctx[o - 1]
        total = P.stats.total[o - 2].astype(np.float64)
        types = P.stats.types[o - 2].astype(np.float64)
        lower = 10.0 ** query(P.index, logprob, backoff, P.grams[o - 1][:, 1:])
        c = P.counts[o - 1]
        logprob.append(log10((c + types[ctx] * lower) / (total[ctx] + types[ctx])))
        seen = total > 0
        backoff[o - 2][seen] = log10(types[seen] / (total[seen] + types[seen]))
    return BackoffTables(
        vocab=list(counts.vocab.words), grams=P.grams, logprob=logprob, backoff=backoff,
        missing_backoff=0.0, proper=True, smoothing="witten_bell", params={"base": base},
    )


class WittenBell(Estimator):
    """Interpolated Witten-Bell; ``base`` picks the unigram end (``uniform`` or ``ml``)."""

    name = "witten_bell"
    proper = True

    def estimate(self, counts: Any, *, base: str = "uniform", **params: Any) -> BackoffTables:
        if params:
            raise ValueError(f"witten_bell: unknown parameter(s) {sorted(params)}; it takes base")
        return witten_bell_tables(counts, base)
