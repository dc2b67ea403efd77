"""The bounded modified Kneser-Ney build with its counting on Dask workers (issue 11).

The same stages and files as ``nlpsvc.ngram.build.build_mkn``, the counting spread over the
corpus partitions:

1. ``encode`` (workers, one task per partition): the partition's sentences become ids in the
   partition's own first-seen order (``extcount``'s encoder) on disk, with unigram counts and
   the partition's word list. The client joins the word lists in partition order - that is
   the whole corpus's first-seen order, so the vocabulary and its ids are the single-machine
   build's (with a ``min_count``/``max_size`` cut: the summed word counts, cut by
   ``Vocabulary.from_counts`` as ``resolve_vocab`` does) - and sends each partition its local
   -> global id map.
2. ``count`` (workers, per order o = 2..N): ``extcount.count_order`` on the partition, keyed by
   global rows of the order below, gives a sorted run of (chain key, count, suffix row) - the
   single-machine run format - and each position's row in that run. The client merges the
   partitions' runs with ``spill.merge_runs`` (counts add); the next order's task first turns
   its local rows into rows of the merged run (``extcount._ranks``).
3. ``estimate`` (client): ``bounded_mkn.estimate_mkn`` over the merged runs, then the folder's
   vocabulary, header and hash tables, exactly as ``build_mkn`` - so the model folder, and its
   ARPA export, are byte-identical to a local build.

Worker files go to one sub-folder per partition of the client's ``TempArea``: that folder
(``ngram.temp_dir``) must be on a filesystem the workers share with the client. A task only
writes its own outputs, so a task rerun after a worker died starts over cleanly; the client
removes a round's inputs once the round is complete.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlpsvc.ngram.counts import check_counted
from nlpsvc.ngram.estimators.bounded_mkn import estimate_mkn
from nlpsvc.ngram.estimators.kneser_ney import _fallback
from nlpsvc.ngram.extcount import DiskCounts, _Encoder, _ranks, count_order
from nlpsvc.ngram.memory import (
    COUNT_BYTES,
    MAX_COUNT_BLOCK,
    MIN_BLOCK,
    block_items,
    parse_memory,
    release_memory,
)
from nlpsvc.ngram.model import NgramModel, write_folder_meta
from nlpsvc.ngram.progress import Stage
from nlpsvc.ngram.spill import DiskArray, Run, TempArea, merge_runs, spill_errors
from nlpsvc.ngram.vocab import Vocabulary

RETRIES = 2
log = logging.getLogger("nlpsvc.ngram")


@dataclass(frozen=True)
class ArrayRef:
    """A ``DiskArray`` by path: what a task returns and the next one reopens."""

    path: str
    dtype: str
    size: int

    @classmethod
    def of(cls, arr: DiskArray) -> ArrayRef:
        arr.flush()
        return cls(str(arr.path), arr.dtype.str, arr.size)

    def open(self, base: Path) -> DiskArray:
        """The array, reopened as it is (``DiskArray()`` would truncate the file)."""
        arr = DiskArray.__new__(DiskArray)
        arr.path, arr.dtype, arr.base = Path(self.path), np.dtype(self.dtype), base
        arr.size, arr._f = self.size, None
        return arr

    def remove(self) -> None:
        Path(self.path).unlink(missing_ok=True)


RunRef = tuple[ArrayRef, ArrayRef, ArrayRef]


def _run_ref(run: Run) -> RunRef:
    return ArrayRef.of(run.keys), ArrayRef.of(run.counts), ArrayRef.of(run.payload)


def _open_run(ref: RunRef, base: Path) -> Run:
    return Run(*(a.open(base) for a in ref))


def _area(folder: str, base: str) -> TempArea:
    """A worker's handle on its partition's sub-folder of the client's temp area (it does not
    own the folder: the client removes it)."""
    area = TempArea(base)
    area.path = Path(folder)
    with spill_errors(area.base):
        area.path.mkdir(parents=True, exist_ok=True)
    return area


# -- tasks (run on the workers) ------------------------------------------------------------------


def encode_part(read: Callable[[Any], Iterable[Sequence[str]]], part: Any, folder: str,
                base: str, order: int, bos: bool, eos: bool) -> dict[str, Any]:
    """Stage 1 on one partition: ids (local first-seen order) and sentence ends on disk."""
    area = _area(folder, base)
    with spill_errors(area.base):
        ids = area.array("ids.local.i32", np.int32)
        rem = area.array("rem.u8", np.uint8)
        enc = _Encoder(order, None, bos, eos, ids, rem, Stage("count", None, "tokens", False))
        for toks in read(part):
            enc.add(toks)
        enc._flush()
    words = enc.final_vocab().words[3:]
    return {"words": words, "unigram": enc.unigram, "sentences": enc.sentences,
            "tokens": enc.tokens, "ids": ArrayRef.of(ids), "rem": ArrayRef.of(rem)}


def count_part(folder: str, base: str, o: int, top: int, V: int, budget: int,
               ids: ArrayRef, rem: ArrayRef, id_map: np.ndarray | None,
               below: tuple[RunRef, ArrayRef, ArrayRef] | None) -> dict[str, Any]:
    """Stage 2, order ``o`` of one partition: its sorted run and its positions' local rows.

    ``id_map`` (order 2): local -> global word ids, applied to the id file first. ``below``
    (order > 2): the partition's run and local rows of order o-1 and the merged keys of order
    o-1, turned into the global rows of order o-1 that this order's keys are made of.
    """
    area = _area(folder, base)
    b = area.base
    out: dict[str, Any] = {}
    with spill_errors(b):
        if id_map is not None:
            src = ids.open(b)
            dst = area.array("ids.i32", np.int32)
            for _, block in src.blocks(1 << 22):
                dst.append(id_map[block])
            out["ids"] = ids = ArrayRef.of(dst)
        ids_arr, rem_arr = ids.open(b), rem.open(b)
        if below is None:
            prev = ids_arr
        else:
            run_ref, rows_ref, merged_keys = below
            local = rows_ref.open(b)
            rank = _ranks(run_ref[0].open(b).read(), merged_keys.open(b), MIN_BLOCK << 8)
            prev = area.array(f"grows{o - 1}.i32", np.int32)
            for _, block in local.blocks(1 << 22):
                if rank.size == 0:  # no (o-1)-gram here: every position is -1 already
                    prev.append(block)
                else:
                    prev.append(np.where(block >= 0, rank[np.maximum(block, 0)], -1))
        block_size = block_items(budget, COUNT_BYTES, cap=MAX_COUNT_BLOCK)
        run, rows = count_order(o, top, ids_arr, rem_arr, prev, V, area, budget, block_size)
        if below is not None:
            prev.remove()
    out["run"] = _run_ref(run)
    out["rows"] = ArrayRef.of(rows) if rows is not None else None
    return out


# -- the client ----------------------------------------------------------------------------------


def build_mkn_dask(
    client: Any,
    parts: Sequence[Any],
    read: Callable[[Any], Iterable[Sequence[str]]],
    folder: str | Path,
    order: int,
    *,
    min_count: int = 1,
    max_size: int | None = None,
    bos: bool = True,
    eos: bool = True,
    discount_fallback: Any = None,
    memory: str | int = "1G",
    area: TempArea,
    progress: bool = False,
) -> Path:
    """``build_mkn`` of the sentences ``read(part)`` for ``part`` in ``parts`` (in order),
    counted on ``client``'s workers; estimation runs here. ``read`` must be importable on
    the workers (a module-level function) and ``area.path`` shared with them."""
    budget = parse_memory(memory)
    _fallback(discount_fallback)
    if not parts:
        check_counted(0, 0)
    folder = Path(folder)
    base = str(area.base)
    dirs = [str(area.file(f"part{i:05d}")) for i in range(len(parts))]
    cut = min_count != 1 or max_size is not None
    with spill_errors(area.base):
        with Stage("count", None, "tokens", progress) as stage:
            t0 = time.perf_counter()
            enc = _gather(client, [client.submit(encode_part, read, p, d, base, order, bos, eos,
                                                 retries=RETRIES, pure=False)
                                   for p, d in zip(parts, dirs, strict=True)])
            vocab, maps = _vocabulary(enc, cut, min_count, max_size)
            V = len(vocab)
            unigram = np.zeros(V, dtype=np.int64)
            for e, m in zip(enc, maps, strict=True):
                np.add.at(unigram, m[: e["unigram"].size], e["unigram"])
            sentences = sum(e["sentences"] for e in enc)
            tokens = sum(e["tokens"] for e in enc)
            check_counted(sentences, tokens)
            stage.update(tokens)
            encode_s = time.perf_counter() - t0
            runs, count_s, merge_s = _count_orders(client, enc, maps, dirs, base, order, V,
                                                   budget, area)
            log.info("ngram: dask: %d partitions: encode %.2f s, count %.2f s on the workers, "
                     "merge %.2f s on the client", len(parts), encode_s, count_s, merge_s)
        counts = DiskCounts(order=order, vocab=vocab, unigram=unigram, orders=runs,
                            sentences=sentences, tokens=tokens)
        params = estimate_mkn(counts, folder, area, budget, progress, discount_fallback)
        sizes = [counts.size(o) for o in range(1, order + 1)]
        with Stage("write", sum(sizes), "n-grams", progress) as stage:
            write_folder_meta(folder, list(vocab.words), order, sizes, smoothing="mkn",
                              proper=True, missing_backoff=0.0, params=params,
                              suffix_closed=True)  # counted n-grams: every suffix too
            del counts, enc
            release_memory()  # the tables map every order's keys: hand the heap back first
            NgramModel.write_tables(folder)  # the query side's hash tables, as build_mkn
            stage.update(sum(sizes))
    release_memory()  # the caller maps the model next
    return folder


def _vocabulary(enc: list[dict[str, Any]], cut: bool, min_count: int, max_size: int | None
                ) -> tuple[Vocabulary, list[np.ndarray]]:
    """The whole corpus's vocabulary from the partitions' word lists (in partition order,
    first-seen order is the corpus's) and each partition's local -> global id map."""
    if cut:
        totals: dict[str, int] = {}
        for e in enc:
            for w, c in zip(e["words"], e["unigram"][3:].tolist(), strict=False):
                totals[w] = totals.get(w, 0) + c
        vocab = Vocabulary.from_counts(totals, min_count=min_count, max_size=max_size)
    else:
        vocab = Vocabulary(w for e in enc for w in e["words"])
    get = vocab.index.get
    maps = [np.array([0, 1, 2, *(get(w, 0) for w in e["words"])], dtype=np.int32) for e in enc]
    return vocab, maps


def _count_orders(client: Any, enc: list[dict[str, Any]], maps: list[np.ndarray],
                  dirs: list[str], base: str, order: int, V: int, budget: int,
                  area: TempArea) -> tuple[list[Run], float, float]:
    """Orders 2..N: per-partition runs on the workers, merged here (counts add); also the
    seconds spent waiting for the workers and merging."""
    b = Path(base)
    ids = [e["ids"] for e in enc]
    rem = [e["rem"] for e in enc]
    below: list[tuple[RunRef, ArrayRef, ArrayRef] | None] = [None] * len(enc)
    merged_runs: list[Run] = []
    count_s = merge_s = 0.0
    for o in range(2, order + 1):
        t0 = time.perf_counter()
        futures = [client.submit(count_part, d, base, o, order, V, budget, ids[i], rem[i],
                                 maps[i] if o == 2 else None, below[i], retries=RETRIES,
                                 pure=False)
                   for i, d in enumerate(dirs)]
        res = _gather(client, futures)
        if o == 2:
            for old in ids:
                old.remove()
            ids = [r["ids"] for r in res]
        for bl in below:  # the order below's partition runs and rows are used up
            if bl is not None:
                for a in (*bl[0], bl[1]):
                    a.remove()
        t1 = time.perf_counter()
        runs = [_open_run(r["run"], b) for r in res]
        merged = Run.create(area, f"order{o}")
        merge_runs(runs, merged, budget, area, f"merge{o}", keep_inputs=o < order)
        merged.keys.flush()
        count_s += t1 - t0
        merge_s += time.perf_counter() - t1
        merged_runs.append(merged)
        if o < order:
            mk = ArrayRef.of(merged.keys)
            below = [(r["run"], r["rows"], mk) for r in res]
    for r in ids + rem:
        r.remove()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    return merged_runs, count_s, merge_s


def _gather(client: Any, futures: list[Any]) -> list[Any]:
    """The tasks' results in order; the first failure is raised as it was on the worker."""
    try:
        return client.gather(futures)
    finally:
        client.cancel(futures)
