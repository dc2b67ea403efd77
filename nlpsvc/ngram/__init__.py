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
from typing import Any

from nlpsvc.ngram.arpa import ArpaError, ArpaExportError, read_arpa, write_arpa
from nlpsvc.ngram.counts import NgramCounts, count_ngrams
from nlpsvc.ngram.estimators import ESTIMATORS, get_estimator
from nlpsvc.ngram.model import NgramModel, SentenceScore, TokenScore
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
    **estimator_params: Any,
) -> NgramModel:
    """Count and estimate an n-gram model.

    ``smoothing``: one of ``ESTIMATORS`` (``mkn`` = KenLM-exact modified Kneser-Ney);
    ``estimator_params`` go to it (``k`` for addk, ``discount`` for kn/absolute, ...).
    Vocabulary: ``vocab_words`` (a closed word list), else words seen ``min_count`` times
    (at most ``max_size``); other words, and a literal ``<unk>``, are the ``<unk>`` class.
    ``prune``: per-order count thresholds as ``lmplz --prune`` (e.g. ``[0, 0, 1]``).
    """
    if smoothing not in ESTIMATORS:
        known = ", ".join(ESTIMATORS)
        raise ValueError(f"unknown smoothing {smoothing!r}; expected one of {known}")
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise ValueError(f"order must be an integer >= 1, got {order!r}")
    estimator = get_estimator(smoothing)
    params = dict(estimator_params)
    count_prune = prune
    if prune is not None and smoothing in _PRUNE_IN_ESTIMATOR:
        params["prune"] = list(prune)
        count_prune = None
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
    tables = estimator.estimate(counts, **params)
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
    "ESTIMATORS",
    "MODEL_DIR",
    "NgramCounts",
    "NgramModel",
    "SentenceScore",
    "TokenScore",
    "Vocabulary",
    "count_ngrams",
    "load_artifact",
    "read_arpa",
    "train",
    "write_arpa",
]
