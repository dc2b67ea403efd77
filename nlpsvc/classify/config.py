"""Classifier settings: the ``[classifier]`` config table as a dataclass, checked up front.

The keys ``variants``, ``epochs`` and ``word_ngrams`` are part of the user contract (SPEC §7);
the rest are ours. With ``tune_minutes`` > 0 (the default) the pipeline picks the settings of
``nlpsvc.classify.tune.GRID`` by stratified k-fold cross-validation on the train split; the values
here are then only the starting point, and a key the user sets is held fixed. The whole table
(tuned values included) is stored in the manifest and next to the weights, so a loaded model is
rebuilt from its own files alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

VARIANTS = ("linear", "fasttext")
LOSSES = ("auto", "softmax", "ova")
OPTIMIZERS = ("sgd", "adam")
UPDATES = ("example", "batch")
LINEAR_MODELS = ("logreg", "svm")


@dataclass
class ClassifierConfig:
    """Settings of both variants (``--set classifier.KEY=VALUE``)."""

    variants: list[str] = field(default_factory=lambda: list(VARIANTS))  # which to train
    # served when a request names none; "auto": best by cross-validation (tuned), else on valid
    default_variant: str = "auto"

    # --- settings picked by cross-validation (nlpsvc.classify.tune)
    tune_minutes: float = 3.0  # wall-clock budget of the search; 0: the fixed settings below
    tune_folds: int = 3  # stratified folds of the train split (fewer when a class is that rare)

    # --- fastText-style PyTorch model
    epochs: int = 25  # upper bound; early stopping on the validation split may stop sooner
    word_ngrams: int = 2  # longest word n-gram hashed into buckets (1: bag of words only)
    dim: int = 50  # embedding size
    buckets: int = 1 << 19  # hash buckets for word n-grams (rows of the embedding table)
    min_count: int = 1  # words seen fewer times get no row of their own (n-grams still hash)
    eos: bool = True  # fastText's end-of-line word "</s>" added to every non-blank text
    lr: float = 0.5  # start learning rate, decayed linearly to 0 (fastText's schedule) for SGD
    batch_size: int = 32  # texts per vectorised step ("batch" update, Adam, numba missing)
    # "example": fastText's per-example SGD, one step per text (output layer and the text's
    # rows), lr decayed per token, in a compiled kernel (sgd_kernel; without numba, a slower
    # per-batch reference whose rows step once per batch); "batch": one step of the batch's
    # summed loss (diverges at fastText's lr 1.0 on short texts)
    update: str = "example"
    optimizer: str = "sgd"  # "sgd" (sparse gradients, fastText schedule) or "adam" (SparseAdam)
    loss: str = "auto"  # "softmax", "ova" (one-vs-all sigmoids) or "auto": ova if multi-label
    dropout: float = 0.0  # on the averaged text vector
    weight_decay: float = 0.0  # L2 on the output layer
    patience: int = 3  # epochs without validation improvement before stopping (0: never stop)
    seed: int = 0
    # word vectors to init word rows: word2vec text/binary, an nlpsvc embeddings artifact folder
    # or a gensim .kv (nlpsvc.embeddings.pretrained); "" or missing: skip
    pretrained: str = ""

    # --- scikit-learn TF-IDF model
    linear_model: str = "svm"  # "logreg" or "svm" (LinearSVC, probabilities temperature-scaled)
    C: float = 1.0
    linear_word_ngrams: int = 2  # TF-IDF word n-grams 1..N (0: none)
    linear_punct: bool = True  # punctuation-only tokens in the word n-grams (False: dropped)
    char_ngrams: list[int] = field(default_factory=lambda: [0, 0])  # [min, max]; [0, 0]: none
    min_df: int = 2
    max_features: int = 0  # 0: no limit
    sublinear_tf: bool = True

    # --- data
    valid_fraction: float = 0.1  # carved from train (by a hash of the line) when no valid split
    test_fraction: float = 0.1  # idem for test

    def __post_init__(self) -> None:
        if isinstance(self.variants, str):
            self.variants = [v.strip() for v in self.variants.split(",") if v.strip()]
        self.variants = list(self.variants)
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad or not self.variants:
            raise ValueError(f"variants must be a non-empty subset of {VARIANTS}, got {bad or []}")
        if self.default_variant not in ("auto", *self.variants):
            raise ValueError(
                f"default_variant {self.default_variant!r} must be 'auto' or a trained variant"
            )
        if (isinstance(self.tune_minutes, bool) or not isinstance(self.tune_minutes, int | float)
                or not math.isfinite(self.tune_minutes) or self.tune_minutes < 0):
            raise ValueError(f"tune_minutes must be a number of minutes >= 0 (0: no tuning), "
                             f"got {self.tune_minutes!r}")
        if (isinstance(self.tune_folds, bool) or not isinstance(self.tune_folds, int)
                or self.tune_folds < 2):
            raise ValueError(f"tune_folds must be an integer >= 2, got {self.tune_folds!r}")
        _choice("loss", self.loss, LOSSES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("update", self.update, UPDATES)
        _choice("linear_model", self.linear_model, LINEAR_MODELS)
        for name in ("epochs", "word_ngrams", "dim", "buckets", "batch_size", "min_count"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer")
        if self.lr <= 0 or self.C <= 0:
            raise ValueError("lr and C must be > 0")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")
        if self.weight_decay < 0 or self.patience < 0 or self.linear_word_ngrams < 0:
            raise ValueError("weight_decay, patience and linear_word_ngrams must be >= 0")
        self.char_ngrams = list(self.char_ngrams)
        lo, hi = (self.char_ngrams + [0, 0])[:2] if len(self.char_ngrams) <= 2 else (-1, -1)
        if len(self.char_ngrams) != 2 or lo < 0 or hi < lo or (lo == 0) != (hi == 0):
            raise ValueError("char_ngrams must be [min, max] with 1 <= min <= max, or [0, 0]")
        if self.linear_word_ngrams == 0 and hi == 0:
            raise ValueError("the linear variant needs word n-grams or char n-grams")
        for name in ("valid_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 0.5:
                raise ValueError(f"{name} must be in (0, 0.5)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}, got {value!r}")
