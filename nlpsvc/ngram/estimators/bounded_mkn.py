"""Modified Kneser-Ney from counts on disk, order by order, in blocks: the bounded build's
``adjust`` and ``estimate`` stages. Numbers are bit-identical to ``kn_tables(variant="mkn")``.

Why it can be blocked and stay exact:

* adjust (top-down): the continuation count of an (o-1)-gram is the number of o-grams whose
  suffix it is; the o-gram's suffix row is stored with it (``extcount``), so each order's
  counts are one ``bincount`` accumulated over blocks of integers (exact in any order).
  N-grams starting with ``<s>`` keep raw counts: in sorted order they are one contiguous range
  per order, found by two searches. The count-of-counts per order give the discounts
  (``discounts_from_coc``), with ``kenlm_stat_counts``' one-row quirk applied to the buckets.
* estimate (bottom-up): an o-gram's probability needs its context's sums (over the context's
  children, contiguous in sorted order), and the interpolated probability of its suffix one
  order down. Blocks are cut at context boundaries, so every float sum adds the same numbers
  in the same order as the one-shot ``np.bincount``; the order below's probabilities are held
  in RAM (8 bytes per n-gram: they are read at random through the suffix rows).

Each order's ``keys``, ``logprob`` and ``backoff`` are written straight into the model folder
(``NgramModel.save``'s ``.npy`` files); the model never sits whole in memory. Pruning and the
other estimators keep the in-memory path (``kn_tables``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nlpsvc.ngram.estimators.kneser_ney import _fallback, discounts_from_coc
from nlpsvc.ngram.extcount import DiskCounts
from nlpsvc.ngram.memory import (
    ESTIMATE_BYTES,
    MAX_COUNT_BLOCK,
    MAX_ESTIMATE_BLOCK,
    block_items,
)
from nlpsvc.ngram.progress import Stage
from nlpsvc.ngram.spill import DiskArray, NpyWriter, TempArea, disk_searchsorted, disk_take
from nlpsvc.ngram.vocab import BOS_ID


def _coc(a: np.ndarray) -> np.ndarray:
    return np.bincount(np.minimum(a, 5), minlength=6)[:5].astype(np.int64)


class _Orders:
    """Per-order accessors over ``DiskCounts`` (orders 1..N, unigrams in RAM)."""

    def __init__(self, dc: DiskCounts) -> None:
        self.dc = dc
        self.N = dc.order
        self.V = len(dc.vocab)

    def size(self, o: int) -> int:
        return self.dc.size(o)

    def keys(self, o: int) -> DiskArray:
        return self.dc.orders[o - 2].keys

    def raw(self, o: int) -> DiskArray:
        return self.dc.orders[o - 2].counts

    def suffix(self, o: int) -> DiskArray:
        return self.dc.orders[o - 2].payload

    def first_words(self, o: int, rows: np.ndarray) -> np.ndarray:
        """First word id of order-o rows, walking the parent chain down."""
        r = np.asarray(rows, dtype=np.int64)
        for oo in range(o, 1, -1):
            r = disk_take(self.keys(oo), r) // self.V
        return r


def estimate_mkn(dc: DiskCounts, folder: Path, area: TempArea, budget: int, progress: bool,
                 discount_fallback: Any = None) -> dict[str, Any]:
    """Write ``logprob{o}``/``keys{o}``/``backoff{o}.npy`` of the mkn model into ``folder``;
    returns the model's params (discounts), as ``kn_tables`` would."""
    fallback = _fallback(discount_fallback)
    ords = _Orders(dc)
    N = ords.N
    raw1 = dc.unigram
    if raw1.sum() == 0:
        raise ValueError("mkn: no tokens counted")
    total = sum(ords.size(o) for o in range(1, N + 1))
    with Stage("adjust", total, "n-grams", progress) as stage:
        adj, discounts = _adjust(ords, area, budget, fallback, stage)
    folder.mkdir(parents=True, exist_ok=True)
    with Stage("estimate", total, "n-grams", progress) as stage:
        _estimate(ords, adj, discounts, folder, budget, stage)
    return {"discounts": [list(d) for d in discounts]}


def _bos_ranges(ords: _Orders) -> list[tuple[int, int]]:
    """Rows [lo, hi) of the n-grams starting with ``<s>``, per order (contiguous when sorted)."""
    out = [(BOS_ID, BOS_ID + 1)]
    for o in range(2, ords.N + 1):
        lo, hi = out[-1]
        pos = disk_searchsorted(ords.keys(o), np.array([lo, hi], dtype=np.int64) * ords.V)
        out.append((int(pos[0]), int(pos[1])))
    return out


def _adjust(ords: _Orders, area: TempArea, budget: int, fallback: Any, stage: Stage
            ) -> tuple[list[DiskArray | np.ndarray], list[tuple[float, float, float]]]:
    """Adjusted counts per order (disk below the top, RAM at order 1) and the discounts."""
    N = ords.N
    bos = _bos_ranges(ords)
    adj: list[DiskArray | np.ndarray] = [np.empty(0)] * N
    coc: list[np.ndarray] = [np.zeros(5, np.int64)] * N
    top = ords.raw(N)
    coc[N - 1] = np.zeros(5, np.int64)
    block = block_items(budget, 16, cap=MAX_COUNT_BLOCK)
    for _, part in top.blocks(block):
        coc[N - 1] = coc[N - 1] + _coc(part)
        stage.update(part.size)
    adj[N - 1] = top
    for o in range(N - 1, 0, -1):
        n_o = ords.size(o)
        cont = np.zeros(n_o, dtype=np.int64)
        for _, part in ords.suffix(o + 1).blocks(block):
            cont += np.bincount(part, minlength=n_o)
        lo, hi = bos[o - 1]
        cont[lo:hi] = ords.dc.unigram[lo:hi] if o == 1 else ords.raw(o).read(lo, hi - lo)
        if o == 1:
            cont[BOS_ID] = 0  # <s> is never predicted
            adj[0] = cont
        else:
            arr = area.array(f"adj{o}.i64", np.int64)
            arr.append(cont)
            arr.flush()
            adj[o - 1] = arr
        coc[o - 1] = _coc(cont)
        stage.update(n_o)
        del cont
    _kenlm_quirk(ords, adj, coc)
    discounts: list[tuple[float, float, float]] = []
    for o in range(1, N + 1):
        try:
            discounts.append(discounts_from_coc(coc[o - 1], o))
        except ValueError:
            if fallback is None:
                raise
            discounts.append(fallback)
    return adj, discounts


def _value(arr: DiskArray | np.ndarray, row: int) -> int:
    if isinstance(arr, np.ndarray):
        return int(arr[row])
    return int(disk_take(arr, row))


def _kenlm_quirk(ords: _Orders, adj: list[DiskArray | np.ndarray], coc: list[np.ndarray]
                 ) -> None:
    """``kenlm_stat_counts`` on count-of-counts: the n-grams pending at the end of lmplz's
    stream enter its statistics with their raw count; move each between buckets."""
    N = ords.N
    raw1 = ords.dc.unigram
    seen = np.flatnonzero(raw1 > 0)
    seen = seen[seen != BOS_ID]
    if seen.size == 0:
        return
    row = int(seen.max())
    for o in range(1, N):
        a = _value(adj[o - 1], row)
        r = int(raw1[row]) if o == 1 else _value(ords.raw(o), row)
        if a != r:
            coc[o - 1] = coc[o - 1].copy()
            if a < 5:
                coc[o - 1][a] -= 1
            if r < 5:
                coc[o - 1][r] += 1
        if o == N - 1 or (o > 1 and int(ords.first_words(o, np.array([row]))[0]) == BOS_ID):
            break
        ext_parts = []
        for start, part in ords.suffix(o + 1).blocks(1 << 20):
            hits = np.flatnonzero(part == row)
            if hits.size:
                ext_parts.append(hits + start)
        if not ext_parts:
            break
        ext = np.concatenate(ext_parts)
        row = int(ext[np.argmax(ords.first_words(o + 1, ext))])


def _estimate(ords: _Orders, adj: list[DiskArray | np.ndarray],
              discounts: list[tuple[float, float, float]], folder: Path, budget: int,
              stage: Stage) -> None:
    N, V = ords.N, ords.V
    # Order 1: as kn_tables (the only context is the empty one).
    a = adj[0]
    assert isinstance(a, np.ndarray)
    d_of = np.array((0.0, *discounts[0]))[np.minimum(a, 3)]
    ctx = np.zeros(a.size, dtype=np.int64)
    denom = np.bincount(ctx, weights=a, minlength=1)
    taken = np.bincount(ctx, weights=d_of, minlength=1)
    is_ctx = denom > 0
    gamma = np.where(is_ctx, taken / np.where(is_ctx, denom, 1.0), 0.0)
    uninterp = (a - d_of) / np.where(is_ctx, denom, 1.0)[ctx]
    prob = uninterp + gamma[ctx] * np.full(a.size, 1.0 / (V - 1))
    prob[BOS_ID] = 1.0  # lmplz writes log10 p(<s>) = 0: a placeholder, never used
    with np.errstate(divide="ignore"):
        np.save(folder / "logprob1.npy", np.log10(prob))
    stage.update(a.size)
    prob_prev = prob
    for o in range(2, N + 1):
        n_o = ords.size(o)
        resident = prob_prev.nbytes + (8 * n_o if o < N else 0)
        block = block_items(budget, ESTIMATE_BYTES, reserved=resident,
                            cap=MAX_ESTIMATE_BLOCK)
        prob_prev = _estimate_order(ords, o, adj[o - 1], discounts[o - 1], prob_prev, folder,
                                    block, stage)
        keys = NpyWriter(folder / f"keys{o}.npy", np.int64, n_o)
        keys.copy_from(ords.keys(o))
        keys.close()


def _context_end(keys: DiskArray, start: int, parent: int, V: int) -> int:
    """First row at or after ``start`` whose parent is not ``parent``."""
    return int(disk_searchsorted(keys, np.array([(parent + 1) * V], dtype=np.int64))[0])


def _estimate_order(ords: _Orders, o: int, adj: DiskArray | np.ndarray,
                    disc: tuple[float, float, float], prob_prev: np.ndarray, folder: Path,
                    block: int, stage: Stage) -> np.ndarray:
    """logprob of order o and backoff of order o-1, block by block; returns order o's
    interpolated probabilities (for the order above) or an empty array at the top."""
    N, V = ords.N, ords.V
    n_o, n_ctx = ords.size(o), ords.size(o - 1)
    keys_a, suf_a = ords.keys(o), ords.suffix(o)
    assert isinstance(adj, DiskArray)
    table = np.array((0.0, *disc))
    prob_cur = np.empty(n_o) if o < N else np.empty(0)
    lp = NpyWriter(folder / f"logprob{o}.npy", np.float64, n_o)
    bo = NpyWriter(folder / f"backoff{o - 1}.npy", np.float64, n_ctx)
    r0 = ctx_done = 0
    while r0 < n_o:
        e = min(r0 + block, n_o)
        keys = keys_a.read(r0, e - r0)
        parent = keys // V
        if e < n_o and int(keys_a.read(e, 1)[0]) // V == int(parent[-1]):
            cut = int(np.searchsorted(parent, parent[-1], side="left"))
            if cut > 0:  # end the block before its last, unfinished context
                e = r0 + cut
                parent = parent[:cut]
            else:  # one context larger than a block: take all of it
                e = _context_end(keys_a, e, int(parent[-1]), V)
                parent = keys_a.read(r0, e - r0) // V
        a = adj.read(r0, e - r0)
        suf = suf_a.read(r0, e - r0)
        p0 = int(parent[0])
        ctx = parent - p0
        m = int(parent[-1]) - p0 + 1
        d_of = table[np.minimum(a, 3)]
        denom = np.bincount(ctx, weights=a, minlength=m)
        taken = np.bincount(ctx, weights=d_of, minlength=m)
        is_ctx = denom > 0
        gamma = np.where(is_ctx, taken / np.where(is_ctx, denom, 1.0), 0.0)
        uninterp = (a - d_of) / np.where(is_ctx, denom, 1.0)[ctx]
        prob = uninterp + gamma[ctx] * prob_prev[suf]
        bo.write_zeros(p0 - ctx_done)
        with np.errstate(divide="ignore"):
            bo.write(np.where(is_ctx, np.log10(np.where(is_ctx, gamma, 1.0)), 0.0))
            lp.write(np.log10(prob))
        ctx_done = p0 + m
        if o < N:
            prob_cur[r0:e] = prob
        stage.update(e - r0)
        r0 = e
    bo.write_zeros(n_ctx - ctx_done)
    bo.close()
    lp.close()
    return prob_cur
