"""Good-Turing discounting with Katz backoff (Katz 1987), SRILM ``ngram-count`` style.

Per order, counts r ≤ k (Katz's threshold, default 5) are discounted by the Katz-corrected
Good-Turing ratio

    d_r = (r*/r - A) / (1 - A),   r* = (r + 1) n_{r+1} / n_r,   A = (k + 1) n_{k+1} / n_1,

with n_r the number of n-grams of that order seen exactly r times; counts above k are kept
(d_r = 1). For a seen n-gram p(w | h) = d_{c} c(h w) / c(h •); an unseen one gets
alpha(h) · p(w | h'), with alpha(h) = (1 - Σ_seen p(w | h)) / (1 - Σ_seen p(w | h')) so that
each context's distribution sums to 1. Unigrams are discounted the same way and the freed mass
goes in equal parts to the predictable words never seen (``<unk>`` …), or to all of them when
every word was seen (SRILM's rule).

Zero counts-of-counts (small corpora: no n-gram seen exactly twice …) make the formula
undefined or give discounts outside (0, 1]. Then, in this order:
1. Simple Good-Turing (Gale & Sampson 1995): the n_r are replaced by a log-linear fit
   log Z_r = a + b log r of the averaged counts-of-counts Z_r (needs ≥ 2 distinct counts and
   slope b < -1), and the Katz formula is applied to the smoothed values;
2. otherwise SRILM's own rule (``GoodTuring::estimate``): no singletons disables discounting,
   k is lowered while n_{k+1} = 0, and each coefficient with n_r = 0, r*/r > 1 or
   d_r <= 3e-6 is set to 1 (that count is not discounted).
The method used per order is recorded in ``params["gt_method"]`` and the discounts in
``params["discounts"]``. When Σ_seen p(w | h') is 1 (the lower order leaves nothing for the
unseen words), the seen probabilities of h are renormalised to sum to 1 and the backoff is
-inf (SRILM's "BOW denominator is zero" case). If no count of a context is discounted, unseen
words after it get probability 0: Katz's model, not a bug.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpsvc.ngram.estimators._ops import NEG_INF, log10, prepare, query
from nlpsvc.ngram.estimators.base import Estimator
from nlpsvc.ngram.tables import BackoffTables

SRILM_EPS = 3e-6  # SRILM's Prob_Epsilon
DEN_EPS = 1e-10  # below this, 1 - Σ p_lower is rounding noise: the lower order is used up


def count_of_counts(c: np.ndarray, upto: int) -> np.ndarray:
    """n[r] = number of n-grams seen exactly r times, r = 0..upto (n[0] unused)."""
    c = np.asarray(c, dtype=np.int64)
    c = c[(c > 0) & (c <= upto)]
    return np.bincount(c, minlength=upto + 1).astype(np.float64)


def katz_discounts(n: np.ndarray, k: int) -> np.ndarray | None:
    """Katz coefficients d[1..k] (d[0] unused) from counts-of-counts n[0..k+1], or None when
    one is undefined or outside (0, 1]."""
    if k < 1:
        return np.ones(1)
    if n.size < k + 2 or (n[1 : k + 2] <= 0).any():
        return None
    A = (k + 1) * n[k + 1] / n[1]
    if A >= 1:
        return None
    r = np.arange(1, k + 1, dtype=np.float64)
    rstar = (r + 1) * n[2 : k + 2] / n[1 : k + 1]
    d = np.concatenate([[1.0], (rstar / r - A) / (1 - A)])
    if not ((d[1:] > 0) & (d[1:] <= 1)).all():
        return None
    return d


def sgt_counts(c: np.ndarray, upto: int) -> np.ndarray | None:
    """Gale & Sampson's smoothed counts-of-counts S(r), r = 0..upto, or None if no fit."""
    c = np.asarray(c, dtype=np.int64)
    c = c[c > 0]
    rs, nr = np.unique(c, return_counts=True)
    if rs.size < 2:
        return None
    rs = rs.astype(np.float64)
    prev = np.concatenate([[0.0], rs[:-1]])
    nxt = np.concatenate([rs[1:], [2 * rs[-1] - prev[-1]]])
    z = nr / (0.5 * (nxt - prev))
    x, y = np.log(rs), np.log(z)
    b, a = np.polyfit(x, y, 1)
    if not b < -1:
        return None
    r = np.arange(upto + 1, dtype=np.float64)
    with np.errstate(divide="ignore"):
        s = np.exp(a + b * np.log(r))
    s[0] = 0.0
    return s


def discounts_for(c: np.ndarray, k: int) -> tuple[np.ndarray, str]:
    """(d[0..k], method) for one order's raw counts; see the module docstring."""
    n = count_of_counts(c, k + 1)
    d = katz_discounts(n, k)
    if d is not None:
        return d, "katz"
    s = sgt_counts(c, k + 1)
    if s is not None:
        d = katz_discounts(s, k)
        if d is not None:
            return d, "simple_good_turing"
    return srilm_discounts(n, k), "srilm"


def srilm_discounts(n: np.ndarray, k: int) -> np.ndarray:
    """SRILM's ``GoodTuring::estimate``: no singletons disables discounting; k is lowered while
    n_{k+1} = 0; a coefficient with n_r = 0, r*/r > 1 or d_r <= 3e-6 is replaced by 1."""
    d = np.ones(k + 1)
    if n[1] == 0:
        return d
    while k > 0 and n[k + 1] == 0:
        k -= 1
    if k == 0:
        return d
    A = (k + 1) * n[k + 1] / n[1]
    if A >= 1:  # SRILM divides by 1 - A regardless; no coefficient is usable here
        return d
    for r in range(1, k + 1):
        if n[r] == 0:
            continue
        ratio = (r + 1) * n[r + 1] / (r * n[r])
        v = (ratio - A) / (1 - A)
        if v > SRILM_EPS and ratio <= 1:
            d[r] = v
    return d


def _apply(d: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Discounted counts d_c · c (counts above the threshold unchanged)."""
    c = np.asarray(c, dtype=np.int64)
    f = np.ones(c.size)
    small = (c >= 1) & (c < d.size)
    f[small] = d[c[small]]
    return f * c


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise ValueError(f"katz: k (the Good-Turing threshold) must be an integer >= 0, got {k!r}")
    return int(k)


def katz_tables(counts: Any, k: int = 5) -> BackoffTables:
    """ARPA tables of the Good-Turing / Katz backoff model of ``counts``."""
    k = check_k(k)
    P = prepare(counts)
    ev = P.unigram_event()
    methods, discounts = [], []
    # Unigrams: discount, give the freed mass to unseen predictable words (or to all of them).
    c1 = P.counts[0]
    d, m = discounts_for(c1[ev], k)
    methods.append(m)
    discounts.append(d[1:].tolist())
    p1 = _apply(d, c1) / c1.sum()
    left = max(1.0 - p1.sum(), 0.0)
    unseen = ev & (c1 == 0)
    target = unseen if unseen.any() else ev
    p1 = p1 + np.where(target, left / target.sum(), 0.0)
    logprob = [np.where(ev, log10(p1), NEG_INF)]
    backoff = [np.zeros(len(g)) for g in P.grams]
    for o in range(2, P.order + 1):
        ctx = P.stats.ctx[o - 1]
        n_ctx = len(P.grams[o - 2])
        total = P.stats.total[o - 2].astype(np.float64)
        c = P.counts[o - 1]
        d, m = discounts_for(c, k)
        methods.append(m)
        discounts.append(d[1:].tolist())
        dc = _apply(d, c)
        pstar = dc / total[ctx]
        # Freed mass per context, summed directly (no 1 - Σ cancellation).
        num = np.bincount(ctx, weights=(c - dc) / total[ctx], minlength=n_ctx)
        lower = 10.0 ** query(P.index, logprob, backoff, P.grams[o - 1][:, 1:])
        den = 1.0 - np.bincount(ctx, weights=lower, minlength=n_ctx)
        seen = total > 0
        used_up = seen & (den < DEN_EPS)
        if used_up.any():  # renormalise those contexts' seen probabilities
            s = np.bincount(ctx, weights=pstar, minlength=n_ctx)
            fix = used_up[ctx]
            pstar[fix] /= s[ctx[fix]]
        logprob.append(log10(pstar))
        ok = seen & ~used_up
        with np.errstate(divide="ignore"):
            backoff[o - 2][ok] = np.log10(np.maximum(num[ok], 0.0) / den[ok])
        backoff[o - 2][used_up] = NEG_INF
    return BackoffTables(
        vocab=list(counts.vocab.words), grams=P.grams, logprob=logprob, backoff=backoff,
        missing_backoff=0.0, proper=True, smoothing="katz",
        params={"k": k, "gt_method": methods, "discounts": discounts},
    )


class Katz(Estimator):
    """Good-Turing discounting (counts ≤ ``k``, default 5) with Katz backoff."""

    name = "katz"
    proper = True

    def estimate(self, counts: Any, *, k: int = 5, **params: Any) -> BackoffTables:
        if params:
            raise ValueError(f"katz: unknown parameter(s) {sorted(params)}; it takes k")
        return katz_tables(counts, k)
