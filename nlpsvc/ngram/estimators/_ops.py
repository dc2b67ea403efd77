"""Vectorised helpers the estimators share: n-gram lookup, context statistics, ARPA queries.

Every estimator turns ``NgramCounts`` into ARPA-style tables (log10 p per stored n-gram, log10
backoff per stored context). These helpers do the table plumbing in numpy so that each
estimator file only holds its own formulas.

Lookup works on a chain of sorted integer keys: the key of an order-o n-gram is
``index_of_its_prefix_at_order_(o-1) * V + last_word``. Rows of ``grams[o-1]`` are sorted
lexicographically and every prefix is stored, so each order's keys are sorted and a batch of
n-grams is found with one ``np.searchsorted`` per order (no Python loop over n-grams).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEG_INF = float("-inf")


class NgramIndex:
    """Find rows of ``grams`` (one array per order, rows sorted, prefix-closed) in bulk."""

    def __init__(self, grams: list[np.ndarray], vocab_size: int) -> None:
        self.V = np.int64(max(int(vocab_size), 1))
        self.keys: list[np.ndarray] = []
        for o, g in enumerate(grams, start=1):
            g = np.asarray(g)
            if o == 1:
                keys = g[:, 0].astype(np.int64)
            else:
                parent = self.find(g[:, :-1])
                if (parent < 0).any():
                    bad = g[int(np.flatnonzero(parent < 0)[0])]
                    raise ValueError(f"n-gram {bad.tolist()} is stored but its prefix is not")
                keys = parent * self.V + g[:, -1].astype(np.int64)
            if keys.size > 1 and not (np.diff(keys) > 0).all():
                raise ValueError(f"order-{o} n-grams are not unique and sorted")
            self.keys.append(keys)

    @property
    def order(self) -> int:
        return len(self.keys)

    def find(self, ngrams: np.ndarray) -> np.ndarray:
        """Row index of each n-gram (shape (n, m), m ≤ order) in ``grams[m-1]``, -1 if absent."""
        ngrams = np.asarray(ngrams)
        n, m = ngrams.shape
        if m == 0:
            raise ValueError("cannot look up empty n-grams")
        if m > self.order:
            return np.full(n, -1, dtype=np.int64)
        idx = np.zeros(n, dtype=np.int64)
        ok = np.ones(n, dtype=bool)
        for j in range(m):
            keys = self.keys[j]
            word = ngrams[:, j].astype(np.int64)
            target = word if j == 0 else idx * self.V + word
            pos = np.searchsorted(keys, target)
            pos_c = np.minimum(pos, max(keys.size - 1, 0))
            hit = (keys.size > 0) & (pos < keys.size)
            if keys.size:
                hit &= keys[pos_c] == target
            ok &= hit
            idx = np.where(ok, pos_c, 0)
        return np.where(ok, idx, -1)


@dataclass
class ContextStats:
    """Per order o ≥ 2: where each o-gram's context sits, and each context's totals.

    ``ctx[o-1][i]``: row of the context of o-gram i in ``grams[o-2]``.
    ``total[o-2][j]``: sum of counts of o-grams with context j (nltk's ``counts[h].N()``).
    ``types[o-2][j]``: number of distinct words seen after context j (N1+(h •)).
    """

    ctx: list[np.ndarray | None]
    total: list[np.ndarray]
    types: list[np.ndarray]


def context_stats(grams: list[np.ndarray], counts: list[np.ndarray], index: NgramIndex
                  ) -> ContextStats:
    """Context totals and type counts for every order (vectorised with ``np.bincount``)."""
    ctx: list[np.ndarray | None] = [None]
    total: list[np.ndarray] = []
    types: list[np.ndarray] = []
    for o in range(2, len(grams) + 1):
        c = np.asarray(counts[o - 1], dtype=np.int64)
        n_ctx = len(grams[o - 2])
        # Rows are sorted, so the context index is the parent in the key chain.
        ci = index.keys[o - 1] // index.V
        ctx.append(ci)
        total.append(np.bincount(ci, weights=c, minlength=n_ctx).astype(np.int64))
        types.append(np.bincount(ci[c > 0], minlength=n_ctx).astype(np.int64))
    return ContextStats(ctx=ctx, total=total, types=types)


def log10(x: np.ndarray | float) -> np.ndarray:
    """log10 that maps 0 to -inf without a warning."""
    with np.errstate(divide="ignore"):
        return np.log10(x)


def query(index: NgramIndex, logprob: list[np.ndarray], backoff: list[np.ndarray],
          ngrams: np.ndarray, missing_backoff: float = 0.0) -> np.ndarray:
    """ARPA log10 p(w | h) for each row (h w) of ``ngrams``, using orders 1..len(logprob).

    log10 p = logprob of the longest stored suffix of (h w) + the backoffs of the contexts
    skipped on the way (``missing_backoff`` for a context that is not stored). Only the orders
    already filled in ``logprob`` are used, so estimators can call this on the lower orders
    while they build the next one. A word with no unigram entry gets -inf.
    """
    ngrams = np.asarray(ngrams)
    n, m = ngrams.shape
    top = len(logprob)
    if m > top:  # the model cannot see that far back: drop the oldest context words
        ngrams = ngrams[:, m - top:]
        m = top
    out = np.zeros(n, dtype=np.float64)
    todo = np.arange(n)
    for j in range(m):
        if todo.size == 0:
            break
        sub = ngrams[todo, j:]
        length = m - j
        found = index.find(sub) if length <= index.order else np.full(todo.size, -1)
        hit = found >= 0
        out[todo[hit]] += logprob[length - 1][found[hit]]
        miss = todo[~hit]
        if length == 1:
            out[miss] = NEG_INF
            break
        ctx = index.find(ngrams[miss, j:-1])
        has = ctx >= 0
        bo = np.full(miss.size, missing_backoff, dtype=np.float64)
        bo[has] = backoff[length - 2][ctx[has]]
        out[miss] += bo
        todo = miss
    return out


def left_extended(index: NgramIndex, grams: list[np.ndarray]) -> list[np.ndarray]:
    """``ext[o-1][i]``: True when the order-o n-gram i occurs as the suffix of an (o+1)-gram.

    The top order gets all False. Used to tell contexts a longer history can back off into
    from contexts that only ever start a sentence (such as ``<s>`` with one-``<s>`` padding).
    """
    ext = [np.zeros(len(g), dtype=bool) for g in grams]
    for o in range(2, len(grams) + 1):
        suf = index.find(grams[o - 1][:, 1:])
        ext[o - 2][suf[suf >= 0]] = True
    return ext


@dataclass
class Prepared:
    """Counts made ready for an estimator: unigram rows for every predictable word, lookups.

    ``event`` marks the ids a model predicts (its event space E): every vocabulary entry except
    ``<s>`` when counting added it (it is only ever a context), and except a reserved ``<s>`` /
    ``</s>`` that never occurs when counting did not add them (nltk.lm's vocabulary at order 1).
    ``counts[0]`` is zero for ids outside E, so unigram totals are over predicted tokens only.
    """

    order: int
    vocab_size: int
    grams: list[np.ndarray]
    counts: list[np.ndarray]
    index: NgramIndex
    stats: ContextStats
    event: np.ndarray  # bool mask over vocabulary ids

    @property
    def n_events(self) -> int:
        return int(self.event.sum())

    def unigram_event(self) -> np.ndarray:
        """Mask over unigram rows: is this row's word in E."""
        return self.event[self.grams[0][:, 0]]


def prepare(ngram_counts: object) -> Prepared:
    """Build the lookups and the event space of ``NgramCounts`` (see ``Prepared``)."""
    from nlpsvc.ngram.vocab import BOS_ID, EOS_ID

    grams = [np.asarray(g) for g in ngram_counts.grams]  # type: ignore[attr-defined]
    counts = [np.asarray(c, dtype=np.int64) for c in ngram_counts.counts]  # type: ignore[attr-defined]
    vocab = ngram_counts.vocab  # type: ignore[attr-defined]
    V = len(vocab)
    if not grams or len(grams[0]) == 0:
        raise ValueError("no n-grams to estimate from (empty corpus?)")
    uni_ids = grams[0][:, 0]
    uni_count = np.zeros(V, dtype=np.int64)
    np.add.at(uni_count, uni_ids, counts[0])
    event = np.ones(V, dtype=bool)
    bos_added = bool(getattr(ngram_counts, "bos", True))
    eos_added = bool(getattr(ngram_counts, "eos", True))
    if bos_added or uni_count[BOS_ID] == 0:
        event[BOS_ID] = False
    if not eos_added and uni_count[EOS_ID] == 0:
        event[EOS_ID] = False
    # Every predicted word gets a unigram row (zero count if unseen, e.g. <unk>).
    missing = np.setdiff1d(np.flatnonzero(event), uni_ids)
    if missing.size:
        ids = np.concatenate([uni_ids, missing]).astype(grams[0].dtype)
        cnt = np.concatenate([counts[0], np.zeros(missing.size, dtype=np.int64)])
        order = np.argsort(ids, kind="stable")
        grams[0] = ids[order].reshape(-1, 1)
        counts[0] = cnt[order]
    counts[0] = np.where(event[grams[0][:, 0]], counts[0], 0)
    index = NgramIndex(grams, V)
    stats = context_stats(grams, counts, index)
    return Prepared(order=len(grams), vocab_size=V, grams=grams, counts=counts, index=index,
                    stats=stats, event=event)
