"""Stupid backoff (Brants et al. 2007): scores, not probabilities.

S(w | h) = c(h w) / c(h •) if h w was seen, else alpha · S(w | h'); S(w) = c(w) / c(•). As
nltk.lm's ``StupidBackoff``. The scores of a context do not sum to 1, so the tables are marked
``proper=False`` and no perplexity should be claimed from them. ARPA form: relative
frequencies, and log10(alpha) as the backoff of every context, stored or not
(``missing_backoff``). A word never seen in training scores 0 (log10 -inf).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpsvc.ngram.estimators._ops import log10, prepare
from nlpsvc.ngram.estimators.base import Estimator
from nlpsvc.ngram.tables import BackoffTables


def check_alpha(alpha: Any) -> float:
    """``alpha`` as a float in (0, 1], or a ValueError."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.integer | np.floating):
        raise ValueError(f"stupid_backoff: alpha must be a number in (0, 1], got {alpha!r}")
    alpha = float(alpha)
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"stupid_backoff: alpha must be in (0, 1], got {alpha!r}")
    return alpha


def stupid_backoff_tables(counts: Any, alpha: float = 0.4) -> BackoffTables:
    """ARPA-form score tables of stupid backoff over ``counts``."""
    alpha = check_alpha(alpha)
    P = prepare(counts)
    c1 = P.counts[0]
    logprob = [log10(c1 / c1.sum())]
    for o in range(2, P.order + 1):
        total = P.stats.total[o - 2][P.stats.ctx[o - 1]]
        logprob.append(log10(P.counts[o - 1] / total))
    la = float(np.log10(alpha))
    backoff = [np.full(len(g), la) for g in P.grams[:-1]] + [np.zeros(len(P.grams[-1]))]
    return BackoffTables(
        vocab=list(counts.vocab.words), grams=P.grams, logprob=logprob, backoff=backoff,
        missing_backoff=la, proper=False, smoothing="stupid_backoff", params={"alpha": alpha},
    )


class StupidBackoff(Estimator):
    """Stupid backoff scores (not probabilities); ``alpha`` in (0, 1], default 0.4."""

    name = "stupid_backoff"
    proper = False

    def estimate(self, counts: Any, *, alpha: float = 0.4, **params: Any) -> BackoffTables:
        if params:
            raise ValueError(
                f"stupid_backoff: unknown parameter(s) {sorted(params)}; it takes alpha"
            )
        return stupid_backoff_tables(counts, alpha)
