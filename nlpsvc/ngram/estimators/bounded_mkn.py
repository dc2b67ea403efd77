"""Modified Kneser-Ney from counts on disk, order by order, in blocks: the bounded build's
``adjust`` and ``estimate`` stages. Numbers are bit-identical to ``kn_tables(variant="mkn")``.

Why it can be blocked and stay exact:

* adjust (top-down): the continuation count of an (o-1)-gram is the number of o-grams whose
  suffix it is; the o-gram's suffix row is stored with it (``extcount``), so each order's
  counts are one ``bincount`` accumulated over blocks of integers (exact in any order), over
  ranges of rows when one order's counts do not fit the budget.
  N-grams starting with ``<s>`` keep raw counts: in sorted order they are one contiguous range
  per order, found by two searches. The count-of-counts per order give the discounts
  (``discounts_from_coc``), with ``kenlm_stat_counts``' one-row quirk applied to the buckets.
* estimate (bottom-up): an o-gram's probability needs its context's sums (over the context's
  children, contiguous in sorted order), and the interpolated probability of its suffix one
  order down. Blocks are cut at context boundaries, so every float sum adds the same numbers
  in the same order as the one-shot ``np.bincount``. The order below's probabilities are read
  at random through the suffix rows: held in RAM (8 bytes per n-gram) when they fit, else
  kept on disk and gathered row by row beforehand, one pass per range that fits (``_gather``).

Each order's ``keys``, ``logprob`` and ``backoff`` are written straight into the model folder
(``NgramModel.save``'s ``.npy`` files); the model never sits whole in memory. Pruning and the
other estimators keep the in-memory path (``kn_tables``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nlpsvc.ngram import records
from nlpsvc.ngram.estimators.kneser_ney import _fallback, discounts_from_coc
from nlpsvc.ngram.extcount import DiskCounts
from nlpsvc.ngram.memory import (
    ESTIMATE_BYTES,
    MAX_COUNT_BLOCK,
    MAX_ESTIMATE_BLOCK,
    MIN_BLOCK,
    block_items,
    free_bytes,
)
from nlpsvc.ngram.model import STORE
from nlpsvc.ngram.progress import Stage
from nlpsvc.ngram.spill import (
    DiskArray,
    NpyWriter,
    TempArea,
    disk_searchsorted,
    disk_take,
    spill_errors,
)
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
    """Write the mkn model's records (``records``: ``ngrams<o>.npy``) into ``folder``; returns
    the model's params (discounts), as ``kn_tables`` would. Each array is written block by
    block into the temp area as it is estimated, then packed into records."""
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
    parts = area.file("parts")  # the arrays, one by one, until packed into records
    parts.mkdir(exist_ok=True)
    with Stage("estimate", total, "n-grams", progress) as stage:
        _estimate(ords, adj, discounts, parts, area, budget, stage)
    records.pack(parts, folder, N)
    parts.rmdir()  # empty now: the area may hold another build
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
        lo, hi = bos[o - 1]
        # Continuation counts of order o, in ranges of rows when they do not fit at once.
        span = n_o if o == 1 else max(MIN_BLOCK, free_bytes(budget) // 32)
        coc[o - 1] = np.zeros(5, np.int64)
        arr = area.array(f"adj{o}.i64", np.int64) if o > 1 else None
        for a in range(0, n_o, span):
            b = min(n_o, a + span)
            cont = _continuation(ords.suffix(o + 1), a, b, n_o, block)
            s0, s1 = max(lo, a), min(hi, b)  # rows starting with <s> keep raw counts
            if s1 > s0:
                cont[s0 - a:s1 - a] = (ords.dc.unigram[s0:s1] if o == 1
                                       else ords.raw(o).read(s0, s1 - s0))
            if o == 1:
                cont[BOS_ID] = 0  # <s> is never predicted
                adj[0] = cont
            else:
                assert arr is not None
                arr.append(cont)
            coc[o - 1] = coc[o - 1] + _coc(cont)
            stage.update(b - a)
            del cont
        if arr is not None:
            arr.flush()
            adj[o - 1] = arr
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


def _continuation(suffix: DiskArray, a: int, b: int, n_rows: int, block: int) -> np.ndarray:
    """N1+(. w) for rows a..b (of ``n_rows``) of the order below: how many n-grams of the
    order above have each as their suffix."""
    out = np.zeros(b - a, dtype=np.int64)
    for _, part in suffix.blocks(block):
        if a > 0 or b < n_rows:
            part = part[(part >= a) & (part < b)] - a
        out += np.bincount(part, minlength=b - a)
    return out


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
              discounts: list[tuple[float, float, float]], folder: Path, area: TempArea,
              budget: int, stage: Stage) -> None:
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
        np.save(folder / "logprob1.npy", np.log10(prob).astype(STORE))
    stage.update(a.size)
    prob_prev: np.ndarray | DiskArray = prob
    for o in range(2, N + 1):
        n_o = ords.size(o)
        room = free_bytes(budget)
        held = prob_prev.nbytes if isinstance(prob_prev, np.ndarray) else 0
        # The order's probabilities stay in RAM for the order above when they fit in half of
        # what is free; otherwise they go to disk and the order above gathers them in passes.
        out: np.ndarray | DiskArray | None = None
        if o < N:
            out = (np.empty(n_o) if 8 * n_o <= (room - held) // 2
                   else area.array(f"prob{o}.f64", np.float64))
        block = block_items(budget, ESTIMATE_BYTES, reserved=held + _nbytes(out),
                            cap=MAX_ESTIMATE_BLOCK)
        if isinstance(prob_prev, DiskArray):
            lower: np.ndarray | DiskArray = _gather(prob_prev, ords.suffix(o), area, budget,
                                                    block, f"lower{o}.f64")
            prob_prev.remove()
        else:
            lower = prob_prev
        _estimate_order(ords, o, adj[o - 1], discounts[o - 1], lower, out, folder, block,
                        stage)
        if isinstance(lower, DiskArray):
            lower.remove()
        keys = NpyWriter(folder / f"keys{o}.npy", np.int64, n_o)
        keys.copy_from(ords.keys(o))
        keys.close()
        prob_prev = out if out is not None else np.empty(0)
        if isinstance(prob_prev, DiskArray):
            prob_prev.flush()


def _nbytes(a: np.ndarray | DiskArray | None) -> int:
    return a.nbytes if isinstance(a, np.ndarray) else 0


def _gather(prob: DiskArray, suffix: DiskArray, area: TempArea, budget: int, block: int,
            name: str) -> DiskArray:
    """``prob[suffix]`` row by row, for probabilities too many to hold: one pass over the
    suffix rows per range of ``prob`` that fits, each filling the rows whose suffix falls in
    it (read, fill, write back)."""
    lower = area.array(name, np.float64)
    for start in range(0, suffix.size, block):
        lower.append(np.zeros(min(block, suffix.size - start)))
    lower.flush()
    span = max(MIN_BLOCK, free_bytes(budget) // 16)
    with spill_errors(area.base), open(lower.path, "r+b") as f:
        for a in range(0, prob.size, span):
            chunk = prob.read(a, span)
            b = a + chunk.size
            for start, suf in suffix.blocks(block):
                hit = (suf >= a) & (suf < b)
                if not hit.any():
                    continue
                f.seek(start * 8)
                vals = np.fromfile(f, dtype=np.float64, count=suf.size)
                vals[hit] = chunk[suf[hit] - a]
                f.seek(start * 8)
                vals.tofile(f)
    return lower


def _context_end(keys: DiskArray, start: int, parent: int, V: int) -> int:
    """First row at or after ``start`` whose parent is not ``parent``."""
    return int(disk_searchsorted(keys, np.array([(parent + 1) * V], dtype=np.int64))[0])


def _estimate_order(ords: _Orders, o: int, adj: DiskArray | np.ndarray,
                    disc: tuple[float, float, float], lower: np.ndarray | DiskArray,
                    out: np.ndarray | DiskArray | None, folder: Path, block: int,
                    stage: Stage) -> None:
    """logprob of order o and backoff of order o-1, block by block. ``lower``: the order
    below's interpolated probabilities (indexed by suffix row), or already gathered row by
    row; ``out`` receives order o's own (None at the top order)."""
    V = ords.V
    n_o, n_ctx = ords.size(o), ords.size(o - 1)
    keys_a, suf_a = ords.keys(o), ords.suffix(o)
    assert isinstance(adj, DiskArray)
    table = np.array((0.0, *disc))
    lp = NpyWriter(folder / f"logprob{o}.npy", STORE, n_o)  # rounded as from_tables rounds
    bo = NpyWriter(folder / f"backoff{o - 1}.npy", STORE, n_ctx)
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
        if isinstance(lower, DiskArray):
            below = lower.read(r0, e - r0)
        else:
            below = lower[suf_a.read(r0, e - r0)]
        p0 = int(parent[0])
        ctx = parent - p0
        m = int(parent[-1]) - p0 + 1
        d_of = table[np.minimum(a, 3)]
        denom = np.bincount(ctx, weights=a, minlength=m)
        taken = np.bincount(ctx, weights=d_of, minlength=m)
        is_ctx = denom > 0
        gamma = np.where(is_ctx, taken / np.where(is_ctx, denom, 1.0), 0.0)
        uninterp = (a - d_of) / np.where(is_ctx, denom, 1.0)[ctx]
        prob = uninterp + gamma[ctx] * below
        bo.write_zeros(p0 - ctx_done)
        with np.errstate(divide="ignore"):
            bo.write(np.where(is_ctx, np.log10(np.where(is_ctx, gamma, 1.0)), 0.0))
            lp.write(np.log10(prob))
        ctx_done = p0 + m
        if isinstance(out, np.ndarray):
            out[r0:e] = prob
        elif out is not None:
            out.append(prob)
        stage.update(e - r0)
        r0 = e
    bo.write_zeros(n_ctx - ctx_done)
    bo.close()
    lp.close()
