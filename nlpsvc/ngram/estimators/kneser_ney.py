"""Kneser-Ney family: modified Kneser-Ney (KenLM-exact), Kneser-Ney and absolute discounting.

All three are interpolated discounting methods that differ only in the counts they discount
and in how many discounts each order has:

* ``mkn`` - Chen & Goodman's modified Kneser-Ney with KenLM's (``lmplz``) conventions:
  adjusted counts are left-continuation counts N1+(. w) except for the top order and n-grams
  starting with ``<s>`` (raw counts); three discounts D1, D2, D3+ per order from the
  count-of-counts of the adjusted counts (Chen & Goodman eq. 26; with lmplz's quirk that the
  n-grams pending at the end of its stream enter with their raw count, see
  ``kenlm_stat_counts``); unigrams interpolated with
  the uniform distribution over the vocabulary without ``<s>``; ``<unk>`` (adjusted count 0
  when the training text has no unknown word) receives only that uniform mass; ``<s>`` gets
  unigram log10 prob 0, as ``lmplz`` writes it (it is never predicted). ``prune`` works as
  ``lmplz --prune``: discounts use all counts, pruned n-grams' adjusted counts move into their
  context's backoff, so each distribution still sums to one.
* ``kn`` - the same with a single discount per order, D = n1 / (n1 + 2 n2) or given
  (``discount``; ``discount_fallback`` is used only where the estimate is impossible).
* ``absolute`` - interpolated absolute discounting of the raw counts at every order, one
  discount per order (estimated as for ``kn`` on raw counts, or given).

Probabilities follow the recursion p(w|h) = (a(hw) - D(a(hw))) / sum_x a(hx) + gamma(h) p(w|h')
with gamma(h) = (sum of the discounts taken from context h) / sum_x a(hx); gamma is the ARPA
backoff of h. All arithmetic is vectorised per order (``np.bincount`` over context rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nlpsvc.ngram.counts import NgramCounts, Structure, _check_prune, structure
from nlpsvc.ngram.estimators.base import Estimator
from nlpsvc.ngram.tables import BackoffTables
from nlpsvc.ngram.vocab import BOS_ID


def _count_of_counts(a: np.ndarray) -> np.ndarray:
    """n[k] = number of n-grams with (adjusted) count k, for k = 0..4."""
    return np.bincount(np.minimum(a, 5), minlength=6)[:5]


# How a user sets the fallback discounts, in the CLI's spelling and the API's, for the errors.
MKN_FALLBACK_HINT = (
    "set fixed discounts: --set ngram.discount_fallback=[0.5,1.0,1.5] (nlpsvc train) or "
    "discount_fallback=(0.5, 1.0, 1.5) (nlpsvc.ngram.train)"
)
KN_FALLBACK_HINT = (
    "set a fixed discount: --set ngram.discount=0.7 or --set ngram.discount_fallback=0.7 "
    "(nlpsvc train), or discount=D / discount_fallback=D with 0 < D < 1 (nlpsvc.ngram.train)"
)


def modified_discounts(a: np.ndarray, order: int) -> tuple[float, float, float]:
    """D1, D2, D3+ from count-of-counts (Chen & Goodman eq. 26), checked as KenLM does."""
    return discounts_from_coc(_count_of_counts(a), order)


def discounts_from_coc(n: np.ndarray, order: int) -> tuple[float, float, float]:
    """D1, D2, D3+ from the count-of-counts ``n[0..4]``; the bounded build counts them in
    blocks and calls this directly, so both builds share the formula and its errors."""
    for j in (1, 2, 3):
        if n[j] == 0:
            raise ValueError(
                f"mkn: cannot estimate discounts for {order}-grams: no {order}-gram has "
                f"adjusted count {j} (corpus too small or artificial); {MKN_FALLBACK_HINT}"
            )
    y = n[1] / (n[1] + 2.0 * n[2])
    ds = tuple(float(j - (j + 1) * y * n[j + 1] / n[j]) for j in (1, 2, 3))
    for j, d in enumerate(ds, 1):
        if not 0.0 <= d <= j:
            raise ValueError(
                f"mkn: {order}-gram discount D{j}={d:.4g} out of range [0, {j}]; "
                f"{MKN_FALLBACK_HINT}"
            )
    return ds  # type: ignore[return-value]


def adjusted_counts(
    grams: list[np.ndarray], st: Structure, raw: list[np.ndarray], *, continuation: bool = True
) -> list[np.ndarray]:
    """Counts the Kneser-Ney family discounts, per order (raw ones when not ``continuation``).

    Continuation counts N1+(. w) below the top order, raw counts at the top order and for
    n-grams starting with ``<s>`` (nothing precedes ``<s>``, so lmplz keeps their raw count);
    ``<s>`` itself gets 0 (it is never predicted).
    """
    N = len(grams)
    adj: list[np.ndarray] = [np.empty(0, np.int64)] * N
    adj[N - 1] = raw[N - 1]
    for o in range(N - 1, 0, -1):
        if not continuation:
            adj[o - 1] = raw[o - 1].copy()
            continue
        cont = np.bincount(st.suffixes[o], minlength=grams[o - 1].shape[0]).astype(np.int64)
        adj[o - 1] = np.where(grams[o - 1][:, 0] == BOS_ID, raw[o - 1], cont)
    adj[0] = adj[0].copy()
    adj[0][BOS_ID] = 0  # <s> is never predicted
    return adj


def kenlm_stat_counts(
    grams: list[np.ndarray], st: Structure, raw: list[np.ndarray], adj: list[np.ndarray]
) -> list[np.ndarray]:
    """The counts whose count-of-counts give ``lmplz``'s discounts: ``adj`` with one quirk.

    ``lmplz`` (``AdjustCounts::Run``, lm/builder/adjust_counts.cc) streams the top-order n-grams
    in suffix order (last word first, word ids in order of first appearance in the text) and
    adds each lower-order n-gram to the count-of-counts when it is flushed, with its adjusted
    count. The n-grams still pending when the stream ends - the suffixes of the last top-order
    n-gram, up to the first ``<s>`` - are flushed by a second loop that adds their *raw* count
    (``actual_counts``, kept for pruning) instead. The adjusted counts themselves (and so every
    probability formula) are unaffected; only the discounts move. On full PTB train the last
    word, ``unilab``, has adjusted count 4 and raw count 6, which turns lmplz's unigram D3+ into
    1.26492 instead of 1.26227; on most corpora both counts fall in the same bucket.

    "Last" uses our word ids, which are lmplz's when the vocabulary was built from the text
    (first-appearance order, ``<unk>``/``<s>``/``</s>`` first); with a given or cut vocabulary
    lmplz has no equivalent and the same rule is applied to our id order, deterministically.
    """
    N = len(grams)
    out = list(adj)
    if N < 2:
        return out  # lmplz's unigram-only path adds raw counts for every word: adj is raw there
    seen = np.flatnonzero(raw[0] > 0)
    seen = seen[seen != BOS_ID]
    if seen.size == 0:
        return out
    row = int(seen.max())  # unigram rows are word ids
    for o in range(1, N):
        if adj[o - 1][row] != raw[o - 1][row]:
            out[o - 1] = adj[o - 1].copy()
            out[o - 1][row] = raw[o - 1][row]
        if o == N - 1 or (o > 1 and grams[o - 1][row, 0] == BOS_ID):
            break  # the chain of pending n-grams stops at the top order or at <s>
        ext = np.flatnonzero(st.suffixes[o] == row)  # (o+1)-grams ending in this o-gram
        if ext.size == 0:
            break
        row = int(ext[np.argmax(grams[o][ext, 0])])  # the last of them in suffix order
    return out


def single_discount(a: np.ndarray, order: int, name: str) -> float:
    """D = n1 / (n1 + 2 n2) (Ney, Essen & Kneser), the usual single-discount estimate."""
    n = _count_of_counts(a)
    if n[1] == 0:
        raise ValueError(
            f"{name}: cannot estimate the {order}-gram discount: no {order}-gram has count 1; "
            f"{KN_FALLBACK_HINT}"
        )
    return float(n[1] / (n[1] + 2.0 * n[2]))


def _per_order(value: Any, order: int, name: str, what: str) -> list[float] | None:
    """A number or one number per order, each in (0, 1); None stays None."""
    if value is None:
        return None
    vals = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    out = []
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            raise ValueError(f"{name}: {what} must be a number in (0, 1), got {v!r}")
        if not 0.0 < float(v) < 1.0:
            raise ValueError(f"{name}: {what} must be in (0, 1), got {v!r}")
        out.append(float(v))
    if len(out) == 1:
        out = out * order
    if len(out) != order:
        raise ValueError(f"{name}: give one {what} or one per order ({order}), got {len(out)}")
    return out


def _fallback(value: Any) -> tuple[float, float, float] | None:
    if value is None:
        return None
    vals = [float(v) for v in value]
    if len(vals) != 3 or not all(0.0 < d <= j for j, d in enumerate(vals, 1)):
        raise ValueError(
            f"mkn: discount_fallback must be (D1, D2, D3+) with 0 < Dj <= j, got {value!r}"
        )
    return vals[0], vals[1], vals[2]


def kn_tables(
    counts: NgramCounts,
    *,
    variant: str = "mkn",
    discount: Any = None,
    discount_fallback: Any = None,
    prune: Sequence[int] | None = None,
) -> BackoffTables:
    """Estimate ``variant`` (``mkn``, ``kn`` or ``absolute``) from raw ``counts``."""
    if variant not in ("mkn", "kn", "absolute"):
        raise ValueError(f"unknown Kneser-Ney variant {variant!r}")
    N = counts.order
    V = len(counts.vocab)
    fixed = _per_order(discount, N, variant, "discount") if variant != "mkn" else None
    if variant == "mkn":
        fallback = _fallback(discount_fallback)
    else:
        one = _per_order(discount_fallback, 1, variant, "discount_fallback")
        fallback = (one[0],) * 3 if one else None
    thresholds = _check_prune(prune, N)
    grams = counts.grams
    raw = [np.asarray(c, dtype=np.int64) for c in counts.counts]
    if grams[0].shape[0] != V or not (grams[0][:, 0] == np.arange(V)).all():
        raise ValueError(f"{variant}: unigram table must list every vocabulary id in order")
    if raw[0].sum() == 0:
        raise ValueError(f"{variant}: no tokens counted")
    st = structure(grams, V, counts.parents)

    adj = adjusted_counts(grams, st, raw, continuation=variant != "absolute")

    # Discounts per order (before pruning, as lmplz), from lmplz's own count statistics.
    stat = kenlm_stat_counts(grams, st, raw, adj) if variant == "mkn" else adj
    disc: list[tuple[float, float, float]] = []
    for o in range(1, N + 1):
        if variant == "mkn":
            try:
                disc.append(modified_discounts(stat[o - 1], o))
            except ValueError:
                if fallback is None:
                    raise
                disc.append(fallback)
        elif fixed is not None:
            disc.append((fixed[o - 1],) * 3)
        else:
            try:
                d = single_discount(adj[o - 1], o, variant)
                disc.append((d, d, d))
            except ValueError:
                if fallback is None:
                    raise
                disc.append(fallback)

    keep = [np.ones(grams[0].shape[0], dtype=bool)]
    for o in range(2, N + 1):
        keep.append(raw[o - 1] > thresholds[o - 1])

    logprob: list[np.ndarray] = []
    backoff: list[np.ndarray] = [np.zeros(g.shape[0]) for g in grams]
    prob_prev = np.empty(0)
    for o in range(1, N + 1):
        a = adj[o - 1]
        d_of = np.array((0.0, *disc[o - 1]))[np.minimum(a, 3)]  # D(a), D(0) = 0
        k = keep[o - 1]
        if o == 1:
            ctx = np.zeros(a.size, dtype=np.int64)
            n_ctx = 1
        else:
            ctx = st.parents[o - 1]
            n_ctx = grams[o - 2].shape[0]
        denom = np.bincount(ctx, weights=a, minlength=n_ctx)
        taken = np.bincount(ctx, weights=np.where(k, d_of, a), minlength=n_ctx)
        is_ctx = denom > 0
        gamma = np.where(is_ctx, taken / np.where(is_ctx, denom, 1.0), 0.0)
        uninterp = (a - d_of) / np.where(is_ctx, denom, 1.0)[ctx]
        if o == 1:
            lower = np.full(a.size, 1.0 / (V - 1))  # uniform over the vocabulary without <s>
        else:
            lower = prob_prev[st.suffixes[o - 1]]
            with np.errstate(divide="ignore"):
                backoff[o - 2] = np.where(is_ctx, np.log10(np.where(is_ctx, gamma, 1.0)), 0.0)
        prob = uninterp + gamma[ctx] * lower
        if o == 1:
            prob[BOS_ID] = 1.0  # lmplz writes log10 p(<s>) = 0: a placeholder, never used
        with np.errstate(divide="ignore"):
            logprob.append(np.log10(prob))
        prob_prev = prob

    out_grams = [g if k.all() else g[k] for g, k in zip(grams, keep, strict=True)]
    logprob = [p if k.all() else p[k] for p, k in zip(logprob, keep, strict=True)]
    backoff = [b if k.all() else b[k] for b, k in zip(backoff, keep, strict=True)]
    params: dict[str, Any] = {
        "discounts": [list(d) if variant == "mkn" else d[0] for d in disc],
    }
    if any(thresholds):
        params["prune"] = thresholds
    return BackoffTables(
        vocab=list(counts.vocab.words),
        grams=out_grams,
        logprob=logprob,
        backoff=backoff,
        missing_backoff=0.0,
        proper=True,
        smoothing=variant,
        params=params,
    )


class ModifiedKneserNey(Estimator):
    """Modified Kneser-Ney as KenLM's ``lmplz`` (``discount_fallback``, ``prune``)."""

    name = "mkn"
    proper = True

    def estimate(self, counts: NgramCounts, **params: Any) -> BackoffTables:
        p = _params(self, params, ("discount_fallback", "prune"))
        return kn_tables(counts, variant="mkn", **p)


class KneserNey(Estimator):
    """Interpolated Kneser-Ney, one discount per order (``discount``, ``prune``)."""

    name = "kn"
    proper = True

    def estimate(self, counts: NgramCounts, **params: Any) -> BackoffTables:
        p = _params(self, params, ("discount", "discount_fallback", "prune"))
        return kn_tables(counts, variant="kn", **p)


class AbsoluteDiscounting(Estimator):
    """Interpolated absolute discounting of raw counts (``discount``, ``prune``)."""

    name = "absolute"
    proper = True

    def estimate(self, counts: NgramCounts, **params: Any) -> BackoffTables:
        p = _params(self, params, ("discount", "discount_fallback", "prune"))
        return kn_tables(counts, variant="absolute", **p)


def _params(est: Estimator, given: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """Parameters from the constructor (if the base class stores them) merged with ``given``."""
    merged = {**dict(getattr(est, "params", {}) or {}), **given}
    unknown = sorted(set(merged) - set(allowed))
    if unknown:
        raise ValueError(
            f"{est.name}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(allowed)}"
        )
    return merged
