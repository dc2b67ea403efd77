"""Training settings for word embeddings: the ``[embeddings]`` config table (SPEC §7).

Parameters are stored as given and checked in ``check()`` before any data is read (fail fast),
so ``nlpsvc train --set embeddings.window=0`` fails at once, naming the key.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from nlpsvc.config import ConfigError

ALGORITHMS = ("skipgram", "cbow", "fasttext")


@dataclass
class EmbeddingsConfig:
    """gensim's parameters under the names ``--set embeddings.<name>=…`` uses."""

    algorithm: str = "skipgram"  # skipgram | cbow (word2vec) | fasttext (skip-gram + char n-grams)
    vector_size: int = 100  # dimensions
    window: int = 5  # max distance between the centre word and a context word
    min_count: int = 5  # words seen fewer times are dropped from the vocabulary
    epochs: int = 5  # passes over the corpus
    workers: int = 0  # training threads; 0: one per CPU core (at most 8)
    seed: int = 1  # initial vectors; with workers=1 training is fully deterministic
    sample: float = 1e-3  # down-sampling threshold for frequent words (0: off)
    negative: int = 5  # negative samples (0: off, then hs must be on)
    hs: bool = False  # hierarchical softmax
    alpha: float = 0.025  # initial learning rate (decays linearly to min_alpha)
    min_alpha: float = 0.0001
    min_n: int = 3  # fastText: shortest character n-gram
    max_n: int = 6  # fastText: longest character n-gram (max_n < min_n: no n-grams)
    bucket: int = 2_000_000  # fastText: hash buckets for n-gram vectors (memory: bucket x size)
    max_vocab: int = 0  # keep only the most frequent N words (0: no limit)
    phrases: bool = False  # join frequent collocations ("new_york") with gensim Phrases first
    phrases_min_count: int = 5
    phrases_threshold: float = 10.0
    evaluate: bool = True  # WordSim-353 / SimLex-999 / Google analogies into the manifest
    ann_threshold: int = 100_000  # build an approximate index above this vocabulary size
    ann_recall: float = 0.95  # the index must reach this recall@10 against exact search

    def check(self) -> EmbeddingsConfig:
        """Raise ConfigError naming the first bad key; return self for chaining."""
        problems: list[tuple[str, str]] = []

        def need(ok: bool, key: str, what: str) -> None:
            if not ok:
                problems.append((key, what))

        ints = ("vector_size", "window", "min_count", "epochs", "workers", "seed", "negative",
                "min_n", "max_n", "bucket", "max_vocab", "phrases_min_count", "ann_threshold")
        for key in ints:
            value = getattr(self, key)
            need(isinstance(value, int) and not isinstance(value, bool), key, "an integer")
        for key in ("sample", "alpha", "min_alpha", "phrases_threshold", "ann_recall"):
            need(isinstance(getattr(self, key), int | float), key, "a number")
        for key in ("hs", "phrases", "evaluate"):
            need(isinstance(getattr(self, key), bool), key, "true or false")
        if problems:
            key, what = problems[0]
            raise ConfigError(f"embeddings.{key} must be {what}, got {getattr(self, key)!r}")
        need(self.algorithm in ALGORITHMS, "algorithm", f"one of {', '.join(ALGORITHMS)}")
        need(1 <= self.vector_size <= 10_000, "vector_size", "between 1 and 10000")
        need(1 <= self.window <= 1000, "window", "between 1 and 1000")
        need(self.min_count >= 1, "min_count", "at least 1")
        need(1 <= self.epochs <= 1000, "epochs", "between 1 and 1000")
        need(0 <= self.workers <= 256, "workers", "between 0 and 256")
        need(0 <= self.seed < 2**32, "seed", "between 0 and 2**32 - 1")
        need(0 <= self.sample < 1, "sample", "in [0, 1)")
        need(0 <= self.negative <= 100, "negative", "between 0 and 100")
        need(self.hs or self.negative > 0, "negative", "positive when hs is false")
        need(0 < self.alpha <= 1, "alpha", "in (0, 1]")
        need(0 <= self.min_alpha <= self.alpha, "min_alpha", "in [0, alpha]")
        need(self.min_n >= 1, "min_n", "at least 1")
        need(self.max_n <= 100, "max_n", "at most 100")
        need(self.bucket >= 1, "bucket", "at least 1")
        need(self.max_vocab >= 0, "max_vocab", "0 (no limit) or more")
        need(self.phrases_min_count >= 1, "phrases_min_count", "at least 1")
        need(self.phrases_threshold > 0, "phrases_threshold", "positive")
        need(self.ann_threshold >= 0, "ann_threshold", "0 or more")
        need(0 < self.ann_recall <= 1, "ann_recall", "in (0, 1]")
        if problems:
            key, what = problems[0]
            raise ConfigError(f"embeddings.{key} must be {what}, got {getattr(self, key)!r}")
        return self

    @property
    def n_workers(self) -> int:
        """The thread count actually used (``workers=0`` resolved)."""
        return self.workers or max(1, min(8, os.cpu_count() or 1))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
