"""The numpy scoring path ``NgramModel`` used before the compiled kernel (binary search over the
sorted keys, array masks per order), kept verbatim as the bit-for-bit oracle of
``nlpsvc.ngram.kernel``: same rules, same float operations, same summation order."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain, repeat

import numpy as np

from nlpsvc.ngram.model import NgramModel, SentenceScore, TokenScore
from nlpsvc.ngram.vocab import BOS_ID, EOS, EOS_ID, UNK_ID


def encode(
    lm: NgramModel, sentences: Sequence[Sequence[str]], bos: bool, eos: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat ids (with markers), per-position history length, sentence lengths (with </s>)."""
    lens = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    words = np.fromiter(map(lm._index.get, chain.from_iterable(sentences), repeat(UNK_ID)),
                        dtype=np.int64, count=int(lens.sum()))
    ns = lens.size
    full = lens + bos + eos
    starts = np.zeros(ns, dtype=np.int64)
    np.cumsum(full[:-1], out=starts[1:])
    total = int(full.sum())
    ids = np.empty(total, dtype=np.int64)
    if bos or eos:
        is_word = np.ones(total, dtype=bool)
        if bos:
            ids[starts] = BOS_ID
            is_word[starts] = False
        if eos:
            ends = starts + full - 1
            ids[ends] = EOS_ID
            is_word[ends] = False
        ids[is_word] = words
    else:
        ids[:] = words
    hist = np.arange(total, dtype=np.int64) - np.repeat(starts, full)
    return ids, hist, full


def score_ids(lm: NgramModel, ids: np.ndarray, hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log10 p and matched order at every position (history = tokens before it)."""
    N, V = lm.order, lm.V
    T = ids.size
    idx = [ids]
    for o in range(2, N + 1):
        prev = np.empty(T, dtype=np.int64)
        prev[0] = -1
        prev[1:] = idx[-1][:-1]
        valid = np.flatnonzero((prev >= 0) & (hist >= o - 1))
        cur = np.full(T, -1, dtype=np.int64)
        keys = lm.keys[o - 1]
        if valid.size and keys.shape[0]:
            q = prev[valid] * V + ids[valid]
            pos = np.searchsorted(keys, q)
            np.minimum(pos, keys.shape[0] - 1, out=pos)
            hit = keys[pos] == q
            cur[valid[hit]] = pos[hit]
        idx.append(cur)
    matched = np.ones(T, dtype=np.int64)
    alive = np.ones(T, dtype=bool)
    # float64 from here, as the kernel widens each stored float32 before adding (float32
    # arithmetic would round every sum)
    lp = lm.lp[0][ids].astype(np.float64)
    for o in range(2, N + 1):
        alive &= idx[o - 1] >= 0
        matched += alive
        sel = np.flatnonzero(alive)
        lp[sel] = lm.lp[o - 1][idx[o - 1][sel]]
    for L in range(1, N):
        need = (matched <= L) & (hist >= L)
        if not need.any():
            continue
        sel = np.flatnonzero(need)
        ctx = idx[L - 1][sel - 1]
        found = ctx >= 0
        add = np.full(sel.size, lm.missing_backoff)
        add[found] = lm.bo[L - 1][ctx[found]]
        lp[sel] += add
    return lp, matched


def score_batch(
    lm: NgramModel, sentences: Sequence[Sequence[str]], per_token: bool = False,
    bos: bool = True, eos: bool = True,
) -> list[SentenceScore]:
    """The old vectorised ``score_batch``."""
    sentences = [list(s) for s in sentences]
    ids, hist, full = encode(lm, sentences, bos, eos)
    lp, matched = score_ids(lm, ids, hist)
    scored = hist > 0 if bos else np.ones(ids.size, dtype=bool)
    sid = np.repeat(np.arange(full.size), full)
    sums = np.bincount(sid[scored], weights=lp[scored], minlength=full.size)
    oov = ids == UNK_ID
    oovs = np.bincount(sid[scored & oov], minlength=full.size)
    ntok = full - bos
    out = []
    pos_s = np.flatnonzero(scored)
    lp_s, m_s, oov_s = lp[pos_s].tolist(), matched[pos_s].tolist(), oov[pos_s].tolist()
    j = 0
    for i, s in enumerate(sentences):
        total = float(sums[i])
        n = int(ntok[i])
        toks = None
        if per_token:
            names = [*s, EOS] if eos else list(s)
            toks = [TokenScore(t, lp_s[j + k], m_s[j + k], oov_s[j + k])
                    for k, t in enumerate(names)]
        j += n
        out.append(SentenceScore(total, n, int(oovs[i]), lm._perplexity(total, n), toks))
    return out


def evaluate_sums(
    lm: NgramModel, sentences: Sequence[Sequence[str]], bos: bool = True, eos: bool = True
) -> tuple[float, float, int, int]:
    """The old ``evaluate`` figures of one batch: total, OOV total, tokens, OOVs."""
    ids, hist, _ = encode(lm, sentences, bos, eos)
    lp, _ = score_ids(lm, ids, hist)
    scored = hist > 0 if bos else np.ones(ids.size, dtype=bool)
    is_oov = scored & (ids == UNK_ID)
    return (float(lp[scored].sum()), float(lp[is_oov].sum()), int(scored.sum()),
            int(is_oov.sum()))
