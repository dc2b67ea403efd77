"""Add-k smoothing (Laplace for k = 1, Lidstone for other k > 0), as nltk.lm's ``Lidstone``.

p(w | h) = (c(h w) + k) / (c(h •) + k·|E|) for the full-length context h, where E is the set of
predictable words (the vocabulary with ``<unk>`` and ``</s>``; ``<s>`` only when it occurs as a
token, i.e. nltk.lm's padded text). An unseen context gets the uniform 1/|E|.

Add-k is not a backoff method, yet it is written in ARPA form exactly: the lower orders hold
the uniform 1/|E|, and each seen top-order context h gets the backoff weight
(k / (c(h •) + k|E|)) / (1/|E|), so an unseen word after h lands on the uniform unigram times
that weight. The one exception are contexts nothing can back off into because they only start
sentences (``<s>`` with KenLM-style single ``<s>`` padding, and every n-gram that begins with
it): those hold their own add-k estimate, so the first words of a sentence are scored with
their real (shorter) history, as nltk.lm does for a short context. (A history with ``<s>``
after another word, which padded text never holds, is therefore scored from its ``<s>`` suffix.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpsvc.ngram.estimators._ops import left_extended, log10, prepare
from nlpsvc.ngram.estimators.base import Estimator
from nlpsvc.ngram.tables import BackoffTables


def check_k(k: Any) -> float:
    """``k`` as a float, or a ValueError saying why it is not usable."""
    if isinstance(k, bool) or not isinstance(k, int | float | np.integer | np.floating):
        raise ValueError(f"addk: k must be a number > 0, got {k!r}")
    if not np.isfinite(k) or k <= 0:
        raise ValueError(f"addk: k must be a finite number > 0, got {k!r}")
    return float(k)


def addk_tables(counts: Any, k: float = 1.0) -> BackoffTables:
    """ARPA tables of the add-``k`` model of ``counts``."""
    k = check_k(k)
    P = prepare(counts)
    nE = P.n_events
    uniform = -np.log10(nE)
    N = P.order
    ev = P.unigram_event()
    c1 = P.counts[0].astype(np.float64)
    if N == 1:
        logprob = [np.where(ev, log10((c1 + k) / (c1.sum() + k * nE)), -np.inf)]
        return _tables(counts, P, logprob, [np.zeros(len(c1))], k)
    logprob = [np.where(ev, uniform, -np.inf)]
    backoff = [np.zeros(len(g)) for g in P.grams]
    # Contexts at order o-1 that a longer history backs off into must keep the uniform.
    ext = left_extended(P.index, P.grams)
    for o in range(2, N + 1):
        ctx = P.stats.ctx[o - 1]
        total = P.stats.total[o - 2].astype(np.float64)
        own = np.ones(len(total), dtype=bool) if o == N else ~ext[o - 2]
        own &= total > 0
        lp = np.full(len(ctx), uniform)
        mine = own[ctx]
        lp[mine] = log10((P.counts[o - 1][mine] + k) / (total[ctx[mine]] + k * nE))
        logprob.append(lp)
        backoff[o - 2][own] = log10(k * nE / (total[own] + k * nE))
    return _tables(counts, P, logprob, backoff, k)


def _tables(counts: Any, P: Any, logprob: list, backoff: list, k: float) -> BackoffTables:
    return BackoffTables(
        vocab=list(counts.vocab.words), grams=P.grams, logprob=logprob, backoff=backoff,
        missing_backoff=0.0, proper=True, smoothing="addk",
        params={"k": k, "events": P.n_events},
    )


class AddK(Estimator):
    """Add-k: ``k=1`` is Laplace, other ``k > 0`` Lidstone."""

    name = "addk"
    proper = True

    def estimate(self, counts: Any, *, k: float = 1.0, **params: Any) -> BackoffTables:
        if params:
            raise ValueError(f"addk: unknown parameter(s) {sorted(params)}; it takes k")
        return addk_tables(counts, k)
