"""N-gram language models: count -> estimate (any smoothing) -> query, ARPA in and out.

>>> from nlpsvc.ngram import train, NgramModel
>>> lm = train([["the", "cat", "sat"], ["the", "dog", "sat"]], order=2, smoothing="kn")
>>> round(lm.score(["the", "cat", "sat"]).log10_prob, 4) < 0
True

Every probability is log10. ``train`` streams its corpus (a list or a restartable iterable of
token lists); the model it returns is an ``NgramModel`` (see ``nlpsvc.ngram.model``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nlpsvc.ngram import build
from nlpsvc.ngram.arpa import ArpaError, ArpaExportError, read_arpa, write_arpa
from nlpsvc.ngram.counts import NgramCounts, count_ngrams
from nlpsvc.ngram.estimators import ESTIMATORS, get_estimator
from nlpsvc.ngram.memory import DEFAULT_MEMORY, BudgetError, parse_memory
from nlpsvc.ngram.model import NgramModel, SentenceScore, TokenScore
from nlpsvc.ngram.progress import Stage
from nlpsvc.ngram.spill import SpillError, TempArea
from nlpsvc.ngram.tables import BackoffTables
from nlpsvc.ngram.vocab import Vocabulary

MODEL_DIR = "model"  # sub-folder of an artifact holding ``NgramModel.save`` output

# Estimators that prune inside estimation (as lmplz: discounts see the unpruned counts).
_PRUNE_IN_ESTIMATOR = {"mkn", "kn", "absolute"}


def train(
    sentences: Iterable[Sequence[str]],
    order: int = 3,
    smoothing: str = "mkn",
    *,
    min_count: int = 1,
    max_size: int | None = None,
    vocab_words: Sequence[str] | None = None,
    prune: Sequence[int] | None = None,
    bos: bool = True,
    eos: bool = True,
    memory: str | int = DEFAULT_MEMORY,
    temp_dir: str | Path | None = None,
    progress: bool = False,
    **estimator_params: Any,
) -> NgramModel:
    """Count and estimate an n-gram model.

    ``smoothing``: one of ``ESTIMATORS`` (``mkn`` = KenLM-exact modified Kneser-Ney);
    ``estimator_params`` go to it (``k`` for addk, ``discount`` for kn/absolute, ...).
    Vocabulary: ``vocab_words`` (a closed word list), else words seen ``min_count`` times
    (at most ``max_size``); other words, and a literal ``<unk>``, are the ``<unk>`` class.
    ``prune``: per-order count thresholds as ``lmplz --prune`` (e.g. ``[0, 0, 1]``).
    ``memory``/``temp_dir``: the bounded build's budget and spill folder (mkn without pruning,
    see ``nlpsvc.ngram.build``); the model it returns maps its arrays from files that are
    already unlinked (its hash tables are built on load, as for a folder without them).
    ``progress``: a bar per stage on a terminal, else one log line per stage.
    """
    _check_train(smoothing, order, memory)
    if build.bounded(smoothing, order, prune):
        with TempArea(temp_dir) as area:
            folder = _train_folder(sentences, area.file(MODEL_DIR), order, smoothing,
                                   min_count=min_count, max_size=max_size,
                                   vocab_words=vocab_words, prune=prune, bos=bos, eos=eos,
                                   memory=memory, progress=progress, area=area,
                                   params=estimator_params)
            return NgramModel.load(folder, mmap=True)
    return _train_in_memory(sentences, order, smoothing, min_count=min_count,
                            max_size=max_size, vocab_words=vocab_words, prune=prune, bos=bos,
                            eos=eos, progress=progress, params=estimator_params)


def train_to_folder(
    sentences: Iterable[Sequence[str]],
    folder: str | Path,
    order: int = 3,
    smoothing: str = "mkn",
    *,
    min_count: int = 1,
    max_size: int | None = None,
    vocab_words: Sequence[str] | None = None,
    prune: Sequence[int] | None = None,
    bos: bool = True,
    eos: bool = True,
    memory: str | int = DEFAULT_MEMORY,
    temp_dir: str | Path | None = None,
    progress: bool = False,
    area: TempArea | None = None,
    **estimator_params: Any,
) -> Path:
    """``train`` whose model goes to ``folder`` (``NgramModel.save``'s layout) rather than into
    RAM: the bounded build writes it order by order. Spill files go under ``temp_dir``, or
    into ``area`` when the caller holds one."""
    _check_train(smoothing, order, memory)
    if area is None:
        with TempArea(temp_dir) as own:
            return train_to_folder(sentences, folder, order, smoothing, min_count=min_count,
                                   max_size=max_size, vocab_words=vocab_words, prune=prune,
                                   bos=bos, eos=eos, memory=memory, progress=progress,
                                   area=own, **estimator_params)
    return _train_folder(sentences, Path(folder), order, smoothing, min_count=min_count,
                         max_size=max_size, vocab_words=vocab_words, prune=prune, bos=bos,
                         eos=eos, memory=memory, progress=progress, area=area,
                         params=estimator_params)


def _check_train(smoothing: str, order: int, memory: str | int) -> None:
    parse_memory(memory)  # a bad budget fails on every path, before the corpus is read
    if smoothing not in ESTIMATORS:
        known = ", ".join(ESTIMATORS)
        raise ValueError(f"unknown smoothing {smoothing!r}; expected one of {known}")
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise ValueError(f"order must be an integer >= 1, got {order!r}")


def _train_folder(sentences: Iterable[Sequence[str]], folder: Path, order: int, smoothing: str,
                  *, min_count: int, max_size: int | None, vocab_words: Sequence[str] | None,
                  prune: Sequence[int] | None, bos: bool, eos: bool, memory: str | int,
                  progress: bool, area: TempArea, params: dict[str, Any]) -> Path:
    if not build.bounded(smoothing, order, prune):
        model = _train_in_memory(sentences, order, smoothing, min_count=min_count,
                                 max_size=max_size, vocab_words=vocab_words, prune=prune,
                                 bos=bos, eos=eos, progress=progress, params=params)
        with Stage("write", None, "n-grams", progress) as stage:
            model.save(folder)
            stage.update(sum(model.counts()))
        return folder
    unknown = sorted(set(params) - {"discount_fallback"})
    if unknown:
        raise ValueError(f"mkn: unknown parameter(s) {', '.join(unknown)}; known: "
                         "discount_fallback, prune")
    return build.build_mkn(sentences, folder, order, vocab=vocab_words, min_count=min_count,
                           max_size=max_size, bos=bos, eos=eos,
                           discount_fallback=params.get("discount_fallback"), memory=memory,
                           progress=progress, area=area)


def _train_in_memory(sentences: Iterable[Sequence[str]], order: int, smoothing: str, *,
                     min_count: int, max_size: int | None, vocab_words: Sequence[str] | None,
                     prune: Sequence[int] | None, bos: bool, eos: bool, progress: bool,
                     params: dict[str, Any]) -> NgramModel:
    """Counts, tables and model all in RAM (every estimator; pruning)."""
    estimator = get_estimator(smoothing)
    params = dict(params)
    count_prune = prune
    if prune is not None and smoothing in _PRUNE_IN_ESTIMATOR:
        params["prune"] = list(prune)
        count_prune = None
    with Stage("count", None, "tokens", progress) as stage:
        counts = count_ngrams(
            sentences,
            order,
            vocab_words,
            min_count=min_count,
            max_size=max_size,
            bos=bos,
            eos=eos,
            prune=count_prune,
        )
        stage.update(counts.tokens)
    with Stage("estimate", None, "n-grams", progress) as stage:
        tables = estimator.estimate(counts, **params)
        stage.update(sum(tables.counts()))
    return NgramModel.from_tables(tables)


def load_artifact(artifact: Any, mmap: bool = True) -> NgramModel:
    """The model inside a verified ``nlpsvc.artifacts.Artifact`` (its ``model/`` folder)."""
    path = getattr(artifact, "path", None)
    if path is None:
        raise TypeError("load_artifact expects an nlpsvc.artifacts.Artifact")
    return NgramModel.load(path / MODEL_DIR, mmap=mmap)


__all__ = [
    "ArpaError",
    "ArpaExportError",
    "BackoffTables",
    "BudgetError",
    "ESTIMATORS",
    "MODEL_DIR",
    "NgramCounts",
    "NgramModel",
    "SentenceScore",
    "SpillError",
    "TempArea",
    "TokenScore",
    "Vocabulary",
    "count_ngrams",
    "load_artifact",
    "parse_memory",
    "read_arpa",
    "train",
    "train_to_folder",
    "write_arpa",
]
