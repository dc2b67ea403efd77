"""The scikit-learn variant (``linear``): TF-IDF word and/or char n-grams -> a linear model.

Tokens come from nlpsvc's one tokenizer (the vectorizer never tokenises on its own), so training
and serving see the same words as the fastText variant. LinearSVC has no probabilities; they come
from softmax(margins / T) with the temperature T fitted on the validation split (argmax, hence
accuracy, unchanged; classes absent from the validation split are fine).
Multi-label data is fitted one-vs-rest.

Saved as data only, no pickle (whoever can write the models folder must not run code in the
server): ``linear.json`` (classes, temperature, the vocabulary of each TF-IDF part in column
order), ``linear.coef.npy`` / ``linear.intercept.npy`` (the linear model) and
``linear.idf.<part>.npy``. Loading rebuilds the vectorizers on that fixed vocabulary and IDF, and
prediction is the same numpy arithmetic after fitting and after loading, so both agree exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC

from nlpsvc.classify.config import ClassifierConfig
from nlpsvc.text import TextConfig, Tokenizer

FILENAME = "linear.json"
COEF, INTERCEPT = "linear.coef.npy", "linear.intercept.npy"
LEGACY_FILE = "linear.joblib"  # a pickle: refused (nlpsvc.artifacts.refuse_pickle)
FORMAT, FORMAT_VERSION = "nlpsvc-linear", 1


def idf_file(part: str) -> str:
    return f"linear.idf.{part}.npy"


class TokenJoiner:
    """Preprocessor for char n-grams: the text as nlpsvc tokens joined by spaces."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> str:
        return " ".join(self.tokenizer(text))


class WordTokens:
    """Tokenizer for the word n-grams: nlpsvc tokens, optionally without punctuation-only ones.

    Punctuation tokens (quote markers, ASCII art, signatures) are noise in long posts such as
    20 Newsgroups; whether to drop them is a setting selected on validation.
    """

    def __init__(self, tokenizer: Tokenizer, punct: bool) -> None:
        self.tokenizer = tokenizer
        self.punct = punct

    def __call__(self, text: str) -> list[str]:
        tokens = self.tokenizer(text)
        if self.punct:
            return tokens
        return [t for t in tokens if not _PUNCT.fullmatch(t)]


_PUNCT = re.compile(r"[^\w]+")


class LinearClassifier:
    """fit / predict_proba / save / load: TF-IDF parts and a scikit-learn linear model."""

    def __init__(self, config: ClassifierConfig, text: TextConfig) -> None:
        self.config = config
        self.text = text

    def _parts(self, vocabularies: dict[str, dict[str, int]] | None = None
               ) -> list[tuple[str, TfidfVectorizer]]:
        """The TF-IDF parts (word and/or char n-grams): to fit, or on a saved vocabulary."""
        cfg = self.config
        tok = Tokenizer(self.text)
        common: dict[str, Any] = dict(sublinear_tf=cfg.sublinear_tf, lowercase=False,
                                      dtype=np.float32)
        if vocabularies is None:
            common.update(min_df=cfg.min_df, max_features=cfg.max_features or None)
        saved = vocabularies or {}
        parts = []
        if cfg.linear_word_ngrams:
            parts.append(("word", TfidfVectorizer(
                tokenizer=WordTokens(tok, cfg.linear_punct), token_pattern=None,
                ngram_range=(1, cfg.linear_word_ngrams),
                vocabulary=saved.get("word"), **common)))
        if cfg.char_ngrams[1]:
            parts.append(("char", TfidfVectorizer(
                analyzer="char_wb", preprocessor=TokenJoiner(tok),
                ngram_range=tuple(cfg.char_ngrams),
                vocabulary=saved.get("char"), **common)))
        return parts

    def fitted_parts(self, vocabularies: dict[str, dict[str, int]],
                     idfs: dict[str, np.ndarray]) -> list[tuple[str, TfidfVectorizer]]:
        """The TF-IDF parts on a given vocabulary and IDF: what ``fit`` would have learnt, built
        from counts (``nlpsvc.classify.tune`` counts the train split once for every fold)."""
        parts = self._parts(vocabularies)
        for name, vec in parts:
            vec.idf_ = idfs[name]
        return parts

    def fit(
        self,
        texts: list[str],
        labels: list[list[str]],
        *,
        classes: list[str],
        multilabel: bool,
        valid: tuple[list[str], list[list[str]]] | None = None,
        features: tuple[list[tuple[str, TfidfVectorizer]], sparse.csr_matrix] | None = None,
        calibration: tuple[np.ndarray, list[list[str]]] | None = None,
    ) -> LinearClassifier:
        """Fit the TF-IDF parts and the linear model on ``texts``.

        ``features``: the fitted parts and the training matrix they give for ``texts``, when the
        caller already has them (the tuner). ``calibration``: held-out margins (n, K), in the
        order of the model's classes, and their labels, for the SVM temperature when there is no
        ``valid`` split (the cross-validation's out-of-fold margins); without either, the
        temperature is fitted on the training data (overconfident, but proper).
        """
        self.classes_ = list(classes)
        self.multilabel_ = multilabel
        if features is None:
            parts = self._parts()
            mats = [vec.fit_transform(texts) for _, vec in parts]
            X = mats[0] if len(mats) == 1 else sparse.hstack(mats, format="csr")
        else:
            parts, X = features
        self.parts_ = parts
        model = make_estimator(self.config, multilabel)
        if multilabel:
            self.binarizer_ = MultiLabelBinarizer(classes=self.classes_).fit([self.classes_])
            model.fit(X, self.binarizer_.transform(labels))
        else:
            model.fit(X, [ls[0] for ls in labels])
        self._take_arrays(model, X.shape[1])
        self.temperature_ = 1.0
        if self.config.linear_model == "svm" and not multilabel:
            # Temperature scaling on held-out margins: probabilities without changing the argmax
            # (classes absent from the held-out data are fine).
            if valid and len(valid[0]):
                d, y = self._decision(valid[0]), valid[1]
            elif calibration is not None:
                d, y = calibration
            else:
                d, y = np.asarray(X @ self.coef_.T, np.float64) + self.intercept_, labels
            index = {c: i for i, c in enumerate(self.model_classes_)}
            self.temperature_ = fit_temperature(
                self._svm_logits(d), np.array([index[ls[0]] for ls in y]))
        return self

    def _take_arrays(self, model: Any, width: int) -> None:
        """The fitted linear model as plain arrays (what is saved)."""
        if self.multilabel_:  # one binary model per class; a class always (never) on: constant
            ests = model.estimators_
            self.model_classes_ = list(self.classes_)
            self.coef_ = np.stack([e.coef_[0] if hasattr(e, "coef_") else np.zeros(width)
                                   for e in ests])
            self.intercept_ = np.array([float(e.intercept_[0]) if hasattr(e, "coef_") else 0.0
                                        for e in ests])
            self.constant_ = np.array([np.nan if hasattr(e, "coef_") else float(e.y_[0])
                                       for e in ests])
        else:
            self.model_classes_ = [str(c) for c in model.classes_]
            self.coef_ = np.asarray(model.coef_)
            self.intercept_ = np.asarray(model.intercept_)
            self.constant_ = None

    def _features(self, texts: list[str]) -> sparse.csr_matrix:
        mats = [vec.transform(texts) for _, vec in self.parts_]
        return mats[0] if len(mats) == 1 else sparse.hstack(mats, format="csr")

    def _decision(self, texts: list[str]) -> np.ndarray:
        """Margins (n, K): K rows of ``coef_`` (one for a binary single-label model)."""
        return np.asarray(self._features(texts) @ self.coef_.T, np.float64) + self.intercept_

    @staticmethod
    def _svm_logits(d: np.ndarray) -> np.ndarray:
        return np.concatenate([-d / 2, d / 2], 1) if d.shape[1] == 1 else d  # binary: one margin

    def predict_proba(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities (n, C) in ``classes_`` order, and empty-after-tokenisation flags."""
        tok = Tokenizer(self.text)
        empty = np.array([not tok(t) for t in texts], dtype=bool)
        if not texts:
            return np.zeros((0, len(self.classes_))), empty
        d = self._decision(texts)
        if self.multilabel_:  # one-vs-rest: each class's sigmoid (LogisticRegression's too)
            probs = expit(d)
            fixed = ~np.isnan(self.constant_)
            probs[:, fixed] = self.constant_[fixed]
            return probs, empty
        if self.config.linear_model == "svm":
            probs = softmax(self._svm_logits(d) / self.temperature_)
        elif d.shape[1] == 1:  # binary logistic regression: sigmoid of the one margin
            p = expit(d[:, 0])
            probs = np.stack([1 - p, p], 1)
        else:  # multinomial logistic regression
            probs = softmax(d)
        order = [self.model_classes_.index(c) for c in self.classes_]
        return probs[:, order], empty

    def save(self, folder: Path) -> None:
        """``linear.json`` + ``.npy`` arrays (no object arrays): data only."""
        folder = Path(folder)
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "classes": self.classes_, "model_classes": self.model_classes_,
            "multilabel": self.multilabel_, "temperature": self.temperature_,
            "constant": None if self.constant_ is None else [
                None if np.isnan(c) else c for c in self.constant_.tolist()],
            "parts": [{"name": name, "terms": _terms(vec)} for name, vec in self.parts_],
        }
        (folder / FILENAME).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        np.save(folder / COEF, np.ascontiguousarray(self.coef_), allow_pickle=False)
        np.save(folder / INTERCEPT, np.ascontiguousarray(self.intercept_), allow_pickle=False)
        for name, vec in self.parts_:
            np.save(folder / idf_file(name), np.asarray(vec.idf_), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, config: ClassifierConfig, text: TextConfig,
             file: Callable[[str], Path] | None = None) -> LinearClassifier:
        """Rebuild from the saved files; ``file(name)`` gives each file's path (an artifact's
        ``Artifact.file``, which refuses a file its manifest does not list and hash)."""
        file = file or Path(folder).joinpath
        meta = json.loads(file(FILENAME).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{FILENAME}: format {meta.get('format')!r} "
                             f"v{meta.get('format_version')!r}, this nlpsvc reads {FORMAT} "
                             f"v{FORMAT_VERSION}; re-train the classifier")
        self = cls(config, text)
        self.classes_, self.multilabel_ = meta["classes"], meta["multilabel"]
        self.model_classes_, self.temperature_ = meta["model_classes"], meta["temperature"]
        const = meta.get("constant")
        self.constant_ = None if const is None else np.array(
            [np.nan if c is None else c for c in const], dtype=np.float64)
        self.coef_ = _load_npy(file(COEF))
        self.intercept_ = _load_npy(file(INTERCEPT))
        saved = {p["name"]: {t: i for i, t in enumerate(p["terms"])} for p in meta["parts"]}
        self.parts_ = self._parts(saved)
        if [name for name, _ in self.parts_] != list(saved):
            raise ValueError(f"{FILENAME}: TF-IDF parts {list(saved)} do not match the config")
        for name, vec in self.parts_:
            vec.idf_ = _load_npy(file(idf_file(name)))  # also checks it against the vocabulary
        width = sum(len(v) for v in saved.values())
        if self.coef_.ndim != 2 or self.coef_.shape[1] != width or self.intercept_.shape != (
                self.coef_.shape[0],):
            raise ValueError(f"{COEF}/{INTERCEPT}: shapes {self.coef_.shape}/"
                             f"{self.intercept_.shape} do not fit {width} features")
        return self


def make_estimator(config: ClassifierConfig, multilabel: bool) -> Any:
    """The scikit-learn linear model of ``config`` (one-vs-rest for multi-label data)."""
    if config.linear_model == "logreg":
        model: Any = LogisticRegression(C=config.C, max_iter=1000, random_state=config.seed)
    else:
        model = LinearSVC(C=config.C, random_state=config.seed)
    return OneVsRestClassifier(model) if multilabel else model


def _terms(vec: TfidfVectorizer) -> list[str]:
    """The vocabulary in column order."""
    terms = [""] * len(vec.vocabulary_)
    for term, i in vec.vocabulary_.items():
        terms[i] = term
    return terms


def _load_npy(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The T > 0 that minimises the log loss of softmax(logits / T) on (logits, y)."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))

    return float(np.exp(minimize_scalar(nll, bounds=(-6.0, 4.0), method="bounded").x))
