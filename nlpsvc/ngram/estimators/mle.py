"""Maximum-likelihood estimation: p(w | h) = c(h w) / c(h •), no smoothing at all.

As nltk.lm's ``MLE``: an n-gram never seen, or a context never seen, gets probability 0
(log10 -inf), so the perplexity of text with any unseen n-gram is infinite. In ARPA form every
lower-order context carries backoff -inf (its seen words already hold all the mass) and an
absent context gets ``missing_backoff = -inf``. The distribution over the vocabulary sums to 1
for every context that was seen with at least one following word.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpsvc.ngram.estimators._ops import NEG_INF, log10, prepare
from nlpsvc.ngram.estimators.base import Estimator
from nlpsvc.ngram.tables import BackoffTables


def mle_tables(counts: Any) -> BackoffTables:
    """ARPA tables of the maximum-likelihood model of ``counts``."""
    P = prepare(counts)
    c1 = P.counts[0]
    logprob = [log10(c1 / c1.sum())]
    for o in range(2, P.order + 1):
        total = P.stats.total[o - 2][P.stats.ctx[o - 1]]
        logprob.append(log10(P.counts[o - 1] / total))
    backoff = [np.full(len(g), NEG_INF) for g in P.grams[:-1]] + [np.zeros(len(P.grams[-1]))]
    return BackoffTables(
        vocab=list(counts.vocab.words), grams=P.grams, logprob=logprob, backoff=backoff,
        missing_backoff=NEG_INF, proper=True, smoothing="mle", params={},
    )


class MLE(Estimator):
    """Maximum likelihood (relative frequencies); no parameters."""

    name = "mle"
    proper = True

    def estimate(self, counts: Any, **params: Any) -> BackoffTables:
        if params:
            raise ValueError(f"mle takes no parameters, got {sorted(params)}")
        return mle_tables(counts)
