"""Counting within a memory budget: the corpus as ids on disk, then one sorted pass per order.

Stage 1 (``encode``) reads the sentences once (twice with a vocabulary cut), maps words to ids
exactly as ``count_ngrams`` does (same ids, same ``<s>``/``</s>`` rules: it reuses its chunk
counter) and appends the ids (int32) and each position's distance to its sentence end
(uint8, capped) to two temp files. Only unigram counts and the word index stay in RAM.

Stage 2 (``count_order``), for o = 2..N, in blocks of positions sized from the budget: the key
of the o-gram at position p is ``row of its (o-1)-prefix * V + last word`` (the prefix-id chain
of ``counts.py``, now with *global* rows read from the previous order's per-position row file),
so sorting keys sorts n-grams lexicographically. Each block is sorted and reduced to unique keys
with counts and spilled as a sorted run; runs are merged (``spill.merge_runs``). The row of each
o-gram's (o-1)-suffix is free here - it is the (o-1)-gram row at position p+1 - and is carried
as the run's payload, so estimation needs no search for suffixes. Below the top order, a second
pass turns each block's local unique indices into global rows (recorded by the merge when it
takes one pass, else found by a streamed search of the block's run in the merged keys) and
writes the per-position row file the next order reads.

The merged keys are exactly ``NgramModel``'s ``keys{o}`` (rows sorted, parents = rows of the
order below), and counts and suffixes line up with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from nlpsvc.ngram.counts import _ChunkCounter, check_counted
from nlpsvc.ngram.memory import COUNT_BYTES, MAX_COUNT_BLOCK, MIN_BLOCK, block_items
from nlpsvc.ngram.progress import Stage
from nlpsvc.ngram.spill import DiskArray, Run, TempArea, merge_runs
from nlpsvc.ngram.vocab import Vocabulary

REM_CAP = 255  # distances to the sentence end are stored capped (uint8); orders are <= 10
ENCODE_CHUNK = 1 << 20  # ids buffered in RAM before they are appended to the id file


@dataclass
class DiskCounts:
    """Raw counts of orders 1..N; orders >= 2 live on disk as runs aligned row by row.

    ``orders[o-2]``: the run of order o (``keys`` = chain keys, ``counts`` = raw counts,
    ``payload`` = row of the (o-1)-suffix). ``unigram``: counts by word id (every id listed).
    """

    order: int
    vocab: Vocabulary
    unigram: np.ndarray
    orders: list[Run]
    sentences: int
    tokens: int

    def size(self, o: int) -> int:
        return int(self.unigram.size) if o == 1 else self.orders[o - 2].size


class _Encoder(_ChunkCounter):
    """``count_ngrams``' chunk counter with the counting replaced by appending ids to disk."""

    def __init__(self, order: int, vocab: Vocabulary | None, bos: bool, eos: bool,
                 ids: DiskArray, rem: DiskArray, stage: Stage) -> None:
        super().__init__(order, vocab, bos, eos, ENCODE_CHUNK)
        self.ids_file, self.rem_file, self.stage = ids, rem, stage
        self.reported = 0

    def _consume(self, ids: np.ndarray, rem: np.ndarray, V: int) -> None:
        self.ids_file.append(ids.astype(np.int32))
        self.rem_file.append(np.minimum(rem, REM_CAP).astype(np.uint8))
        self.stage.update(self.tokens - self.reported)  # word tokens, as lmplz counts them
        self.reported = self.tokens


def encode(sentences: Iterable[Sequence[str]], order: int, vocab: Vocabulary | None, bos: bool,
           eos: bool, area: TempArea, stage: Stage) -> tuple[_Encoder, DiskArray, DiskArray]:
    """Read the corpus once into the id and sentence-end files; unigram counts on the way."""
    ids = area.array("ids.i32", np.int32)
    rem = area.array("rem.u8", np.uint8)
    enc = _Encoder(order, vocab, bos, eos, ids, rem, stage)
    for toks in sentences:
        enc.add(toks)
    enc._flush()
    check_counted(enc.sentences, enc.tokens)
    ids.flush()
    rem.flush()
    return enc, ids, rem


def count_all(sentences: Iterable[Sequence[str]], order: int, vocab: Vocabulary | None,
              bos: bool, eos: bool, area: TempArea, budget: int, progress: bool) -> DiskCounts:
    """Stages ``count``: encode the corpus, then count orders 2..N by sorted, spilled blocks."""
    with Stage("count", None, "tokens", progress) as stage:
        enc, ids, rem = encode(sentences, order, vocab, bos, eos, area, stage)
        words = enc.final_vocab()
        V = len(words)
        unigram = np.zeros(V, dtype=np.int64)
        unigram[: enc.unigram.size] = enc.unigram
        block = block_items(budget, COUNT_BYTES, cap=MAX_COUNT_BLOCK)
        prev = ids  # row of the 1-gram at each position is its word id
        runs: list[Run] = []
        for o in range(2, order + 1):
            run, rows = count_order(o, order, ids, rem, prev, V, area, budget, block)
            runs.append(run)
            if prev is not ids:
                prev.remove()
            prev = rows  # type: ignore[assignment]
        if prev is not ids and prev is not None:
            prev.remove()
    ids.remove()
    rem.remove()
    return DiskCounts(order=order, vocab=words, unigram=unigram, orders=runs,
                      sentences=enc.sentences, tokens=enc.tokens)


def _block_keys(o: int, ids: DiskArray, rem: DiskArray, prev: DiskArray, V: int, start: int,
                n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask of positions whose o-gram stays in its sentence, their chain keys, suffix rows).

    Written with in-place operations: this is the peak of counting, per corpus position.
    """
    prev_b = _padded(prev.read(start, n + 1), n + 1)
    mask = rem.read(start, n) >= o
    keys = prev_b[:n].astype(np.int64)
    keys *= V
    keys += _padded(ids.read(start + o - 1, n), n)
    return mask, keys[mask], prev_b[1:][mask]


def _padded(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` zero-padded to ``n`` items (reads past the file's end: masked positions only)."""
    return a if a.size >= n else np.concatenate([a, np.zeros(n - a.size, dtype=a.dtype)])


def count_order(o: int, top: int, ids: DiskArray, rem: DiskArray, prev: DiskArray, V: int,
                area: TempArea, budget: int, block: int) -> tuple[Run, DiskArray | None]:
    """The merged run of order o and (below the top order) the per-position o-gram rows."""
    need_rows = o < top
    blocks: list[tuple[int, int]] = []
    runs: list[Run] = []
    inverse = area.array(f"inv{o}.i32", np.int32) if need_rows else None
    for start, n in _spans(ids.size, block):
        _, keys, suf = _block_keys(o, ids, rem, prev, V, start, n)
        blocks.append((start, n))
        run = Run.create(area, f"count{o}.b{len(runs)}")
        if keys.size:
            order = np.argsort(keys)  # any occurrence's suffix is the key's: no stability needed
            keys = keys[order]
            new = np.empty(keys.size, dtype=bool)
            new[0] = True
            np.not_equal(keys[1:], keys[:-1], out=new[1:])
            starts = np.flatnonzero(new)
            counts = np.diff(np.append(starts, keys.size))
            run.append(keys[starts], counts, suf[order[starts]])
            del keys, suf, starts, counts
            if inverse is not None:
                inv = np.empty(order.size, dtype=np.int32)
                inv[order] = np.cumsum(new, dtype=np.int32) - 1
                inverse.append(inv)
                del inv
            del order, new
        runs.append(run)
    ranked: list[DiskArray] | None = None
    if len(runs) == 1:
        merged = runs[0]
    else:
        merged = Run.create(area, f"order{o}")
        ranks = ([area.array(f"rank{o}.b{b}.i32", np.int32) for b in range(len(runs))]
                 if need_rows else None)
        if merge_runs(runs, merged, budget, area, f"merge{o}", keep_inputs=need_rows,
                      ranks=ranks):
            ranked = ranks
        else:
            for f in ranks or []:
                f.remove()
    merged.keys.flush()
    if inverse is None:
        return merged, None
    rows = area.array(f"rows{o}.i32", np.int32)
    done = 0
    for b, (start, n) in enumerate(blocks):
        valid = np.flatnonzero(rem.read(start, n) >= o)
        inv = inverse.read(done, valid.size)
        done += valid.size
        if len(runs) == 1:
            global_rows = inv
        elif ranked is not None:  # rows recorded by the one-pass merge
            global_rows = ranked[b].read()[inv]
        else:  # multi-pass merge: find the block's keys in the merged ones
            global_rows = _ranks(runs[b].keys.read(), merged.keys, max(block, MIN_BLOCK))[inv]
        out = np.full(n, -1, dtype=np.int32)
        out[valid] = global_rows
        rows.append(out)
    if len(runs) > 1:
        for r in runs:
            r.remove()
    for f in ranked or []:
        f.remove()
    inverse.remove()
    rows.flush()
    return merged, rows


def _spans(total: int, block: int) -> list[tuple[int, int]]:
    """(start, size) of the count blocks; a tail under half a block joins the block before, so
    a corpus just over one block is not split into two runs (and a merge) for a few positions."""
    spans = [(s, min(block, total - s)) for s in range(0, total, block)]
    if len(spans) > 1 and spans[-1][1] < block // 2:
        tail = spans.pop()
        spans[-1] = (spans[-1][0], spans[-1][1] + tail[1])
    return spans


def _ranks(sub: np.ndarray, keys: DiskArray, chunk: int) -> np.ndarray:
    """Row in the merged ``keys`` of each of the sorted ``sub`` keys (all present), reading the
    merged keys in chunks so that neither array has to be whole in RAM at once."""
    out = np.empty(sub.size, dtype=np.int32)
    j = 0
    for start, part in keys.blocks(chunk):
        if j >= sub.size:
            break
        hi = int(np.searchsorted(sub, part[-1], side="right"))
        if hi > j:
            out[j:hi] = start + np.searchsorted(part, sub[j:hi])
            j = hi
    return out
