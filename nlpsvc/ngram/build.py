"""The bounded build: corpus -> model folder within ``ngram.memory``, for modified Kneser-Ney.

Stages, each with its progress (``nlpsvc.ngram.progress``): count (``extcount``: ids to disk,
sorted and spilled blocks per order, merged), adjust and estimate
(``estimators.bounded_mkn``: blocked passes, arrays written straight into the folder), write
(vocabulary, header, then ``NgramModel.write_tables`` adds the query side's hash tables).
All temp files live in one ``TempArea`` under
``ngram.temp_dir``, removed on success and on error.

The folder is the one ``NgramModel.save`` writes, byte for byte (tested): the arrays written
block by block, ``vocab.json`` and ``header.json`` by ``model.write_folder_meta`` (``save``'s
own writer of them), the hash tables and their header entries by the query side's
``write_tables``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nlpsvc.ngram.counts import resolve_vocab
from nlpsvc.ngram.estimators.bounded_mkn import estimate_mkn
from nlpsvc.ngram.estimators.kneser_ney import _fallback
from nlpsvc.ngram.extcount import count_all
from nlpsvc.ngram.memory import DEFAULT_MEMORY, parse_memory, release_memory
from nlpsvc.ngram.model import NgramModel, write_folder_meta
from nlpsvc.ngram.progress import Stage
from nlpsvc.ngram.spill import TempArea, spill_errors
from nlpsvc.ngram.vocab import Vocabulary


def bounded(smoothing: str, order: int, prune: Sequence[int] | None) -> bool:
    """Whether ``train`` takes the bounded build: mkn of order >= 2 without pruning (pruning
    and the other estimators use the in-memory path)."""
    return smoothing == "mkn" and order >= 2 and not prune


def build_mkn(
    sentences: Iterable[Sequence[str]],
    folder: str | Path,
    order: int,
    *,
    vocab: Vocabulary | Sequence[str] | None = None,
    min_count: int = 1,
    max_size: int | None = None,
    bos: bool = True,
    eos: bool = True,
    discount_fallback: Any = None,
    memory: str | int = DEFAULT_MEMORY,
    temp_dir: str | Path | None = None,
    progress: bool = False,
    area: TempArea | None = None,
) -> Path:
    """Count and estimate modified Kneser-Ney into the model folder ``folder``.

    ``memory`` bounds the sorted blocks (``"1G"``, ``"500M"``, ``"80%"``); spill files go to a
    private folder under ``temp_dir`` (or into ``area`` when the caller holds one).
    """
    budget = parse_memory(memory)
    _fallback(discount_fallback)  # a bad value fails before the corpus is read
    folder = Path(folder)
    if area is None:
        with TempArea(temp_dir) as own:
            return build_mkn(sentences, folder, order, vocab=vocab, min_count=min_count,
                             max_size=max_size, bos=bos, eos=eos,
                             discount_fallback=discount_fallback, memory=budget,
                             progress=progress, area=own)
    with spill_errors(area.base):
        words = resolve_vocab(sentences, vocab, min_count, max_size)
        counts = count_all(sentences, order, words, bos, eos, area, budget, progress)
        params = estimate_mkn(counts, folder, area, budget, progress, discount_fallback)
        sizes = [counts.size(o) for o in range(1, order + 1)]
        with Stage("write", sum(sizes), "n-grams", progress) as stage:
            write_folder_meta(folder, list(counts.vocab.words), order, sizes, smoothing="mkn",
                              proper=True, missing_backoff=0.0, params=params,
                              suffix_closed=True)  # counted n-grams: every suffix too
            del counts, words  # the word index is on disk now
            release_memory()  # the tables map every order's keys: hand the heap back first
            NgramModel.write_tables(folder)  # the query side's hash tables, through mappings
            stage.update(sum(sizes))
    release_memory()  # the caller maps the model next
    return folder
