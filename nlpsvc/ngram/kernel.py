"""The compiled scoring loop of ``NgramModel`` (numba, ``cache=True``, no GIL held).

Why compiled: scoring is a chain of dependent lookups per token; in numpy every round costs a
dozen array passes (batch) and ~100 us of fixed set-up (one sentence), in a compiled loop it is
a few hash probes per token, as in KenLM.

Rules (ARPA backoff, KenLM's ``full_scores``), the same float operations in the same order as
the reference numpy path kept in ``tests/ngram/numpy_oracle.py``, so every figure is bit for bit
the same:

* ``row[o]`` of the o-gram ending at a position is looked up from the (o-1)-gram ending at the
  previous position (its prefix), for every o; ``row[1]`` is the word id.
* the match is the longest o with ``row[2..o]`` all present; its log10 prob, plus the backoff
  of each longer context (length ``match``..min(history, N-1)) ending at the previous
  position, ``missing`` for a context that is not stored.
* ``<s>`` (when ``bos``) is context only; ``</s>`` (when ``eos``) is scored; sentence totals
  are sequential sums from 0.0 (as ``np.bincount``).

The model is passed as ``desc``, an int64 (N, 7) array of addresses and sizes per order (see
``describe``); the caller keeps the arrays alive (``NgramModel`` holds them).
"""

from __future__ import annotations

import numba
import numpy as np

from nlpsvc.ngram.probing import address, find, readonly, row_bits
from nlpsvc.ngram.vocab import BOS_ID, EOS_ID, UNK_ID

# desc columns, one row per order (row 0: unigrams, indexed by id; no keys or table)
KEYS, ROWS, SLOTS, NSLOTS, RBITS, LP, BO = range(7)


def describe(
    V: int, keys: list[np.ndarray | None], slots: list[np.ndarray | None],
    lp: list[np.ndarray], bo: list[np.ndarray],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The descriptor array of a model and the read-only views it points into (keep them)."""
    N = len(lp)
    desc = np.zeros((N, 7), dtype=np.int64)
    hold: list[np.ndarray] = []

    def addr(a: np.ndarray, dtype: type) -> int:
        v = readonly(np.asarray(a, dtype=dtype))
        hold.append(v)
        return int(v.ctypes.data)

    for o in range(N):
        desc[o, LP] = addr(lp[o], np.float64)
        desc[o, BO] = addr(bo[o], np.float64) if o < len(bo) else 0
        if o == 0:
            desc[o, ROWS] = V
            continue
        k, s = keys[o], slots[o]
        assert k is not None and s is not None
        desc[o, KEYS] = addr(k, np.int64)
        desc[o, ROWS] = k.shape[0]
        desc[o, SLOTS] = addr(s, np.uint32)
        desc[o, NSLOTS] = s.shape[0]
        desc[o, RBITS] = row_bits(k.shape[0])
    return desc, hold


@numba.njit(inline="always")
def _f64(addr: int, n: int, i: int) -> float:
    return numba.carray(address(addr), n, np.float64)[i]


@numba.njit(inline="always")
def _sentence(
    words: np.ndarray, w: int, n: int, bos: bool, eos: bool, desc: np.ndarray, V: int,
    missing: float, ctx: np.ndarray, cur: np.ndarray, per_token: bool, tok_lp: np.ndarray,
    tok_order: np.ndarray, tok_oov: np.ndarray, j: int,
) -> tuple[float, int]:
    """Score one sentence (``words[w:w+n]`` plus markers); per-token figures from ``j``."""
    N = desc.shape[0]
    F = n + bos + eos
    total = 0.0
    noov = 0
    for p in range(F):
        if bos and p == 0:
            x = BOS_ID
        elif eos and p == F - 1:
            x = EOS_ID
        else:
            x = words[w]
            w += 1
        cur[1] = x
        for o in range(2, N + 1):
            r = -1
            par = ctx[o - 1]  # the (o-1)-gram ending one position earlier
            if p >= o - 1 and par >= 0:
                d = desc[o - 1]
                r = find(d[KEYS], d[ROWS], d[SLOTS], d[NSLOTS], d[RBITS], par * V + x)
            cur[o] = r
        m = 1
        while m < N and cur[m + 1] >= 0:
            m += 1
        v = _f64(desc[m - 1, LP], desc[m - 1, ROWS], cur[m])
        for L in range(m, min(p, N - 1) + 1):  # contexts longer than the match's
            c = ctx[L]
            v += _f64(desc[L - 1, BO], desc[L - 1, ROWS], c) if c >= 0 else missing
        for L in range(1, N):
            ctx[L] = cur[L]
        if bos and p == 0:
            continue  # <s> is context only
        total += v
        noov += x == UNK_ID
        if per_token:
            tok_lp[j] = v
            tok_order[j] = m
            tok_oov[j] = x == UNK_ID
            j += 1
    return total, noov


@numba.njit(cache=True, nogil=True)
def score_sentences(
    words: np.ndarray, lens: np.ndarray, bos: bool, eos: bool, desc: np.ndarray, V: int,
    missing: float, totals: np.ndarray, oovs: np.ndarray, per_token: bool,
    tok_lp: np.ndarray, tok_order: np.ndarray, tok_oov: np.ndarray,
) -> None:
    """Score consecutive sentences (``words`` concatenated, ``lens`` each) into ``totals`` and
    ``oovs``; with ``per_token``, every scored position into ``tok_*`` in order."""
    N = desc.shape[0]
    ctx = np.full(N + 1, -1, dtype=np.int64)
    cur = np.full(N + 1, -1, dtype=np.int64)
    w = 0
    j = 0
    for s in range(lens.shape[0]):
        n = lens[s]
        total, noov = _sentence(words, w, n, bos, eos, desc, V, missing, ctx, cur, per_token,
                                tok_lp, tok_order, tok_oov, j)
        totals[s] = total
        oovs[s] = noov
        w += n
        if per_token:
            j += n + eos
    return None


@numba.njit(cache=True, nogil=True)
def score_one(
    words: np.ndarray, bos: bool, eos: bool, desc: np.ndarray, V: int, missing: float,
    per_token: bool, tok_lp: np.ndarray, tok_order: np.ndarray, tok_oov: np.ndarray,
) -> tuple[float, int]:
    """One sentence, totals returned: no output arrays to allocate for ``score``."""
    N = desc.shape[0]
    ctx = np.full(N + 1, -1, dtype=np.int64)
    cur = np.full(N + 1, -1, dtype=np.int64)
    return _sentence(words, 0, words.shape[0], bos, eos, desc, V, missing, ctx, cur,
                     per_token, tok_lp, tok_order, tok_oov, 0)
