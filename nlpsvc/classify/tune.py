"""Settings picked by stratified k-fold cross-validation on the train split, within a time budget.

Why: one validation split of a few hundred lines picks settings by noise, and fixed settings
leave points on the table (1-2 on sentence polarity). ``tune`` walks ``GRID`` over both
variants, the points most likely to win first (in the benchmark, TF-IDF with char n-grams at
C = 1 won on all four anchor data sets; the fastText-style points are interleaved so that variant
is scored early too), and stops inside the budget: a point is scored on every fold or not at all,
and a point whose expected cost (its group's last point, scaled by its epochs) no longer fits in
what is left is skipped. Every point, tried or not, goes to the artifact's metrics.

The TF-IDF variant counts the train split once per feature setting (word n-grams with or without
punctuation tokens, char n-grams). Each fold's TF-IDF matrix is derived from those counts exactly
as ``TfidfVectorizer`` fitted on the fold's training rows computes it (vocabulary: the terms with
``min_df`` documents there, in the same sorted order; IDF and sublinear tf by scikit-learn's own
``TfidfTransformer``), so all values of C share one tokenisation pass, and the final model is
fitted from the same counts. ``search`` and ``stratified_folds`` are also what the benchmark
(``bench/classifier.py``) selects its settings with.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from nlpsvc.classify.config import ClassifierConfig
from nlpsvc.classify.data import Examples
from nlpsvc.text import TextConfig

log = logging.getLogger(__name__)

LINEAR_KEYS = ("C", "linear_punct", "char_ngrams")
FASTTEXT_KEYS = ("lr", "word_ngrams", "epochs", "dropout")
Point = tuple[str, dict[str, Any]]  # (variant, settings)


def _lin(c: float, punct: bool, chars: list[int]) -> Point:
    return "linear", {"C": c, "linear_punct": punct, "char_ngrams": chars}


def _ft(lr: float, ngrams: int, epochs: int, dropout: float) -> Point:
    return "fasttext", {"lr": lr, "word_ngrams": ngrams, "epochs": epochs, "dropout": dropout}


CHARS, NO_CHARS = [2, 5], [0, 0]
# Most promising first (bench/classifier.py's tuned settings on ag-news, sst2, trec and
# 20newsgroups come first, then their neighbours), two TF-IDF points for each fastText-style one:
# the TF-IDF points are cheaper and won every anchor set.
GRID: list[Point] = [
    _lin(1.0, True, CHARS), _ft(0.5, 2, 25, 0.0),
    _lin(1.0, False, CHARS), _lin(0.5, True, CHARS), _ft(0.25, 2, 50, 0.3),
    _lin(1.0, True, NO_CHARS), _lin(0.5, False, CHARS), _ft(0.25, 1, 10, 0.0),
    _lin(2.0, True, CHARS), _lin(2.0, False, CHARS), _ft(1.0, 2, 25, 0.3),
    _lin(0.5, True, NO_CHARS), _lin(1.0, False, NO_CHARS), _ft(0.5, 2, 10, 0.0),
    _lin(0.3, True, CHARS), _lin(3.0, True, NO_CHARS), _ft(0.1, 1, 25, 0.0),
    _lin(0.3, True, NO_CHARS), _lin(0.5, False, NO_CHARS), _ft(0.5, 1, 25, 0.3),
    _ft(0.25, 2, 25, 0.0), _ft(0.5, 2, 50, 0.3),
]


# -- folds -----------------------------------------------------------------------------------------

def stratify_labels(labels: list[list[str]]) -> list[str]:
    """What the folds are stratified on: the label (the first one of a multi-label line)."""
    return [ls[0] for ls in labels]


def usable_folds(labels: list[list[str]], k: int) -> int:
    """``k``, or fewer when even the largest class has fewer lines (0 or 1: cannot fold)."""
    counts = Counter(stratify_labels(labels))
    return min(k, max(counts.values(), default=0), len(labels))


def stratified_folds(labels: list[list[str]], k: int, seed: int = 0
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold (fit rows, held-out rows) pairs, shuffled with ``seed``: each class is
    spread over the folds in proportion and every line is held out exactly once."""
    from sklearn.model_selection import StratifiedKFold

    y = stratify_labels(labels)
    with warnings.catch_warnings():  # a class rarer than k lines: folds without it are fine
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(
            np.zeros(len(y)), y))


def top_accuracy(scores: np.ndarray, columns: Sequence[str], gold: list[list[str]]) -> float:
    """Share of lines whose highest-scoring column is one of their labels (precision@1, which
    is accuracy for single-label data, as ``metrics.evaluate`` reports it)."""
    if not len(gold):
        return 0.0
    top = np.asarray(scores).argmax(1)
    return float(np.mean([columns[j] in ls for j, ls in zip(top, gold, strict=True)]))


# -- the search ------------------------------------------------------------------------------------

@dataclass
class Trial:
    """One grid point. status: "done" (every fold scored), "stopped" (the budget ran out between
    its folds), "skipped" (its expected cost no longer fitted), "failed" (a fold raised, e.g. the
    fastText-style model diverged)."""

    variant: str
    params: dict[str, Any]
    status: str = "skipped"
    folds: list[float] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.folds)) if self.status == "done" else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"variant": self.variant, "params": self.params,
                               "status": self.status}
        if self.status != "skipped":
            out.update(fold_accuracy=[round(a, 6) for a in self.folds],
                       seconds=round(self.seconds, 3))
        if self.mean is not None:
            out["cv_accuracy"] = round(self.mean, 6)
        if self.note:
            out["note"] = self.note
        return out


def default_cost(variant: str, params: dict[str, Any]) -> tuple[Any, float]:
    """(cost group, scale) of a point: fold times are predicted from the group's last point
    scaled by ``scale``; fastText-style points scale with their epochs, TF-IDF points group by
    whether they count char n-grams (several times the features)."""
    if variant == "fasttext":
        return ("fasttext", params.get("word_ngrams")), float(params.get("epochs", 1))
    if variant == "linear":
        return ("linear", bool((params.get("char_ngrams") or [0, 0])[1])), 1.0
    return variant, 1.0


def search(points: Sequence[Point], score: Callable[[str, dict[str, Any], int], float],
           n_folds: int, budget_s: float | None = None, *,
           cost: Callable[[str, dict[str, Any]], tuple[Any, float]] = default_cost,
           clock: Callable[[], float] = time.monotonic) -> list[Trial]:
    """Score ``points`` in order, ``score(variant, params, fold)`` on each fold, within
    ``budget_s`` seconds (None: no limit). A point is skipped when its predicted fold time times
    the folds no longer fits, and abandoned ("stopped") between folds when the next fold would not
    fit; the overshoot is at most one fold whose cost was mispredicted. A ``ValueError`` from
    ``score`` marks the point "failed" and the search goes on."""
    deadline = math.inf if budget_s is None else clock() + budget_s
    last: dict[Any, float] = {}  # cost group -> seconds per fold per unit of scale
    trials = []
    for variant, params in points:
        trial = Trial(variant, dict(params))
        trials.append(trial)
        group, scale = cost(variant, params)
        per_fold = last.get(group, 0.0) * scale
        if clock() + per_fold * n_folds > deadline:
            trial.note = f"predicted {per_fold * n_folds:.1f} s, budget left " \
                         f"{max(0.0, deadline - clock()):.1f} s"
            continue
        times = []
        t_point = clock()
        trial.status = "done"
        for fold in range(n_folds):
            if times and clock() + min(times) > deadline:
                trial.status, trial.note = "stopped", f"budget ran out after {fold} folds"
                break
            t0 = clock()
            try:
                trial.folds.append(float(score(variant, params, fold)))
            except ValueError as e:
                trial.status, trial.note = "failed", str(e).splitlines()[0][:200]
                break
            times.append(clock() - t0)
        trial.seconds = clock() - t_point
        if times:
            # the fastest fold: the first one of a feature setting also pays for counting it
            last[group] = min(times) / max(scale, 1e-9)
    return trials


def best_of(trials: Sequence[Trial], variant: str | None = None) -> Trial | None:
    """The completed trial with the highest mean accuracy; ties go to the earlier point."""
    best = None
    for t in trials:
        if t.mean is not None and (variant is None or t.variant == variant) and (
                best is None or t.mean > best.mean):
            best = t
    return best


# -- the TF-IDF variant's folds from counts -------------------------------------------------------

class LinearCV:
    """TF-IDF + linear model scored on folds, from count matrices of the whole train split."""

    def __init__(self, texts: list[str], labels: list[list[str]], classes: list[str],
                 multilabel: bool, text: TextConfig,
                 folds: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.texts, self.labels, self.classes = texts, labels, list(classes)
        self.multilabel, self.text, self.folds = multilabel, text, folds
        self._counts: dict[tuple, tuple[np.ndarray, sparse.csr_matrix]] = {}
        self._fold_cache: dict[tuple, tuple[sparse.csr_matrix, sparse.csr_matrix]] = {}
        self.out_of_fold: dict[str, np.ndarray] = {}  # params key -> margins (n, K)

    @staticmethod
    def _part_keys(cfg: ClassifierConfig) -> list[tuple]:
        keys: list[tuple] = []
        if cfg.linear_word_ngrams:
            keys.append(("word", cfg.linear_word_ngrams, cfg.linear_punct))
        if cfg.char_ngrams[1]:
            keys.append(("char", *cfg.char_ngrams))
        return keys

    def counts(self, cfg: ClassifierConfig) -> list[tuple[str, np.ndarray, sparse.csr_matrix]]:
        """(part name, terms in column order, counts of every train line) of each TF-IDF part,
        counted with the vectorizer's own analyzer (the same tokens, n-grams and char_wb)."""
        from sklearn.feature_extraction.text import CountVectorizer

        from nlpsvc.classify.linear import LinearClassifier

        out = []
        parts = LinearClassifier(cfg, self.text)._parts()
        for (name, vec), key in zip(parts, self._part_keys(cfg), strict=True):
            if key not in self._counts:
                counter = CountVectorizer(analyzer=vec.build_analyzer(), dtype=vec.dtype)
                m = counter.fit_transform(self.texts).tocsr()
                self._counts[key] = (counter.get_feature_names_out(), m)
            out.append((name, *self._counts[key]))
        return out

    def tfidf(self, cfg: ClassifierConfig, fit_rows: np.ndarray,
              apply_rows: np.ndarray | None = None
              ) -> tuple[sparse.csr_matrix, sparse.csr_matrix | None, list[tuple]]:
        """TF-IDF of ``fit_rows`` (and of ``apply_rows``) as ``LinearClassifier``'s vectorizers
        fitted on ``fit_rows`` give it; also each part's (name, terms kept, idf)."""
        from sklearn.feature_extraction.text import TfidfTransformer

        fits, applies, meta = [], [], []
        for name, terms, m in self.counts(cfg):
            fit = m[fit_rows]
            df = np.bincount(fit.indices, minlength=m.shape[1])
            mask = df >= max(cfg.min_df, 1)
            if cfg.max_features and mask.sum() > cfg.max_features:  # as CountVectorizer does
                tfs = np.asarray(fit.sum(axis=0)).ravel()
                top = (-tfs[mask]).argsort()[:cfg.max_features]
                limited = np.zeros(len(mask), dtype=bool)
                limited[np.where(mask)[0][top]] = True
                mask = limited
            keep = np.flatnonzero(mask)
            if not len(keep):
                raise ValueError(f"no {name} n-gram is in {cfg.min_df} training lines "
                                 "(lower classifier.min_df)")
            tf = TfidfTransformer(sublinear_tf=cfg.sublinear_tf).fit(fit[:, keep])
            fits.append(tf.transform(fit[:, keep]))
            if apply_rows is not None:
                applies.append(tf.transform(m[apply_rows][:, keep]))
            meta.append((name, terms[keep], tf.idf_))

        def stack(mats: list[sparse.csr_matrix]) -> sparse.csr_matrix:
            return mats[0] if len(mats) == 1 else sparse.hstack(mats, format="csr")

        return stack(fits), stack(applies) if applies else None, meta

    def score(self, cfg: ClassifierConfig, fold: int) -> float:
        """Held-out accuracy of the point on one fold (out-of-fold margins kept for the
        temperature of the final model)."""
        from sklearn.preprocessing import MultiLabelBinarizer

        from nlpsvc.classify.linear import make_estimator

        fit_rows, held = self.folds[fold]
        key = (tuple(self._part_keys(cfg)), cfg.min_df, cfg.max_features, cfg.sublinear_tf, fold)
        if key not in self._fold_cache:
            if len(self._fold_cache) >= len(self.folds):  # one feature setting's folds at a time
                self._fold_cache.clear()
            xa, xb, _ = self.tfidf(cfg, fit_rows, held)
            # liblinear works in float64: convert once per fold, not once per C
            self._fold_cache[key] = (xa.astype(np.float64), xb.astype(np.float64))
        xa, xb = self._fold_cache[key]
        model = make_estimator(cfg, self.multilabel)
        gold = [self.labels[i] for i in held]
        if self.multilabel:
            binarizer = MultiLabelBinarizer(classes=self.classes).fit([self.classes])
            model.fit(xa, binarizer.transform([self.labels[i] for i in fit_rows]))
            return top_accuracy(model.decision_function(xb), self.classes, gold)
        model.fit(xa, [self.labels[i][0] for i in fit_rows])
        d = np.asarray(model.decision_function(xb), np.float64).reshape(len(held), -1)
        columns = [str(c) for c in model.classes_]
        if columns == self.classes:  # every class in this fold's fit rows: margins comparable
            oof = self.out_of_fold.setdefault(params_key(cfg, LINEAR_KEYS),
                                              np.full((len(self.texts), d.shape[1]), np.nan))
            oof[held] = d
        if d.shape[1] == 1:  # binary: one margin, positive for the second class
            d = np.concatenate([-d, d], 1)
        return top_accuracy(d, columns, gold)

    def final_features(self, cfg: ClassifierConfig) -> tuple[list[tuple[str, Any]],
                                                               sparse.csr_matrix]:
        """The fitted TF-IDF parts and training matrix of the whole train split, as
        ``LinearClassifier.fit(features=...)`` takes them."""
        from nlpsvc.classify.linear import LinearClassifier

        x, _, meta = self.tfidf(cfg, np.arange(len(self.texts)))
        vocabularies = {name: {t: i for i, t in enumerate(terms)} for name, terms, _ in meta}
        parts = LinearClassifier(cfg, self.text).fitted_parts(
            vocabularies, {name: idf for name, _, idf in meta})
        return parts, x

    def calibration(self, cfg: ClassifierConfig) -> tuple[np.ndarray, list[list[str]]] | None:
        """Out-of-fold margins of ``cfg``'s point and their labels (None: not on every line)."""
        d = self.out_of_fold.get(params_key(cfg, LINEAR_KEYS))
        if d is None or np.isnan(d).any():
            return None
        return d, self.labels

    def release(self) -> None:
        self._counts.clear()
        self._fold_cache.clear()


def params_key(cfg: ClassifierConfig, keys: Sequence[str]) -> str:
    return repr([(k, getattr(cfg, k)) for k in keys])


# -- the pipeline's entry point --------------------------------------------------------------------

def with_params(config: ClassifierConfig, params: dict[str, Any]) -> ClassifierConfig:
    """``config`` with ``params`` applied, checked (ValueError when the mix is invalid)."""
    return ClassifierConfig(**{**config.to_dict(), **params})


def grid_for(config: ClassifierConfig, fixed: set[str] | frozenset[str] = frozenset(),
             grid: Sequence[Point] = GRID) -> list[Point]:
    """The grid restricted to the trained variants, with the keys the user set held fixed
    (removed from the points, which keep their order; duplicates dropped; a point whose mix with
    the user's settings is invalid is dropped). A variant whose every key is fixed keeps one
    point, its settings as given, so cross-validation still scores it."""
    out: list[Point] = []
    seen: set[str] = set()
    for variant, params in grid:
        if variant not in config.variants:
            continue
        free = {k: v for k, v in params.items() if k not in fixed}
        key = repr((variant, sorted(free.items())))
        if key in seen:
            continue
        try:
            with_params(config, free)
        except ValueError:
            continue
        seen.add(key)
        out.append((variant, free))
    for variant in config.variants:
        if not any(v == variant for v, _ in out):
            out.append((variant, {}))
    return out


@dataclass
class TuneResult:
    """The search's outcome: the config to train with and what was tried."""

    config: ClassifierConfig  # each variant's best point applied
    trials: list[Trial]
    folds: int
    budget_seconds: float
    seconds: float
    linear: LinearCV | None = None

    def best(self, variant: str) -> Trial | None:
        return best_of(self.trials, variant)

    def report(self) -> dict[str, Any]:
        """What goes into the artifact's metrics (JSON)."""
        picked = {}
        for variant in self.config.variants:
            b = self.best(variant)
            picked[variant] = None if b is None else {
                "params": b.params, "cv_accuracy": round(b.mean or 0.0, 6)}
        return {
            "budget_seconds": round(self.budget_seconds, 3), "seconds": round(self.seconds, 3),
            "folds": self.folds, "stratified_by": "label (first label of multi-label lines)",
            "points": [t.to_dict() for t in self.trials],
            "tried": sum(t.status != "skipped" for t in self.trials),
            "completed": sum(t.status == "done" for t in self.trials),
            "picked": picked,
        }


def tune(train: Examples, classes: list[str], multilabel: bool, config: ClassifierConfig,
         text: TextConfig, *, fixed: set[str] | frozenset[str] = frozenset(),
         budget_s: float | None = None, clock: Callable[[], float] = time.monotonic
         ) -> TuneResult | None:
    """Cross-validate ``grid_for(config, fixed)`` on ``train`` within ``budget_s`` seconds
    (default ``config.tune_minutes``); None when the train split is too small to fold. A variant
    none of whose points completed keeps ``config``'s settings."""
    from nlpsvc.classify.fasttext import FastTextClassifier

    budget = config.tune_minutes * 60 if budget_s is None else budget_s
    k = usable_folds(train.labels, config.tune_folds)
    if k < 2:
        return None
    started = clock()
    folds = stratified_folds(train.labels, k, config.seed)
    linear = (LinearCV(train.texts, train.labels, classes, multilabel, text, folds)
              if "linear" in config.variants else None)

    def score(variant: str, params: dict[str, Any], fold: int) -> float:
        cfg = with_params(config, params)
        if variant == "linear":
            assert linear is not None
            return linear.score(cfg, fold)
        fit_rows, held = folds[fold]
        model = FastTextClassifier(cfg, text).fit(
            [train.texts[i] for i in fit_rows], [train.labels[i] for i in fit_rows],
            classes=classes, multilabel=multilabel)
        probs, _ = model.predict_proba([train.texts[i] for i in held])
        return top_accuracy(probs, classes, [train.labels[i] for i in held])

    points = grid_for(config, fixed)
    trials = search(points, score, k, budget - (clock() - started), clock=clock)
    tuned = config.to_dict()
    for variant in config.variants:
        b = best_of(trials, variant)
        if b is not None:
            tuned.update(b.params)
            if variant == "fasttext" and "patience" not in fixed:
                tuned["patience"] = 0  # its epochs were picked for a full run, as scored
        log.info("tuning: %s %s", variant, "kept its settings (no point completed)"
                 if b is None else f"{b.params} cv accuracy {b.mean:.4f}")
    return TuneResult(ClassifierConfig(**tuned), trials, k, budget, clock() - started, linear)
