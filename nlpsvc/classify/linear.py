"""The scikit-learn variant (``linear``): TF-IDF word and/or char n-grams -> a linear model.

Tokens come from nlpsvc's one tokenizer (the vectorizer never tokenises on its own), so training
and serving see the same words as the fastText variant. LinearSVC has no probabilities; they come
from softmax(margins / T) with the temperature T fitted on the validation split (argmax, hence
accuracy, unchanged; classes absent from the validation split are fine).
Multi-label data is fitted one-vs-rest. Saved with joblib, loaded only from a hash-checked artifact.
"""

from __future__ import annotations

import re
from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC

from nlpsvc.classify.config import ClassifierConfig
from nlpsvc.text import TextConfig, Tokenizer

FILENAME = "linear.joblib"


class TokenJoiner:
    """Preprocessor for char n-grams: the text as nlpsvc tokens joined by spaces (picklable)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> str:
        return " ".join(self.tokenizer(text))


class WordTokens:
    """Tokenizer for the word n-grams: nlpsvc tokens, optionally without punctuation-only ones.

    Punctuation tokens (quote markers, ASCII art, signatures) are noise in long posts such as
    20 Newsgroups; whether to drop them is a setting selected on validation (picklable).
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
    """fit / predict_proba / save / load around a scikit-learn Pipeline."""

    def __init__(self, config: ClassifierConfig, text: TextConfig) -> None:
        self.config = config
        self.text = text

    def _pipeline(self, multilabel: bool) -> Pipeline:
        cfg = self.config
        tok = Tokenizer(self.text)
        common = dict(min_df=cfg.min_df, sublinear_tf=cfg.sublinear_tf, lowercase=False,
                      dtype=np.float32, max_features=cfg.max_features or None)
        parts = []
        if cfg.linear_word_ngrams:
            parts.append(("word", TfidfVectorizer(
                tokenizer=WordTokens(tok, cfg.linear_punct), token_pattern=None,
                ngram_range=(1, cfg.linear_word_ngrams),
                **common)))
        if cfg.char_ngrams[1]:
            parts.append(("char", TfidfVectorizer(
                analyzer="char_wb", preprocessor=TokenJoiner(tok),
                ngram_range=tuple(cfg.char_ngrams), **common)))
        features = parts[0][1] if len(parts) == 1 else FeatureUnion(parts)
        if cfg.linear_model == "logreg":
            model = LogisticRegression(C=cfg.C, max_iter=1000, random_state=cfg.seed)
        else:
            model = LinearSVC(C=cfg.C, random_state=cfg.seed)
        if multilabel:
            model = OneVsRestClassifier(model)
        return Pipeline([("features", features), ("model", model)])

    def fit(
        self,
        texts: list[str],
        labels: list[list[str]],
        *,
        classes: list[str],
        multilabel: bool,
        valid: tuple[list[str], list[list[str]]] | None = None,
    ) -> LinearClassifier:
        self.classes_ = list(classes)
        self.multilabel_ = multilabel
        self.pipeline_ = self._pipeline(multilabel)
        if multilabel:
            self.binarizer_ = MultiLabelBinarizer(classes=self.classes_).fit([self.classes_])
            self.pipeline_.fit(texts, self.binarizer_.transform(labels))
        else:
            self.pipeline_.fit(texts, [ls[0] for ls in labels])
        self.temperature_ = 1.0
        if self.config.linear_model == "svm" and not multilabel:
            # Temperature scaling on held-out data: probabilities without changing the argmax
            # (on the training data when there is no validation split: overconfident, but proper).
            X, y = valid if valid and len(valid[0]) else (texts, labels)
            feats = self.pipeline_.named_steps["features"].transform(X)
            index = {c: i for i, c in enumerate(self._model_classes())}
            self.temperature_ = fit_temperature(
                self._svm_logits(feats), np.array([index[ls[0]] for ls in y]))
        return self

    def _model_classes(self) -> list[str]:
        return [str(c) for c in self.pipeline_.named_steps["model"].classes_]

    def _svm_logits(self, feats: object) -> np.ndarray:
        d = np.asarray(self.pipeline_.named_steps["model"].decision_function(feats), np.float64)
        return np.stack([-d / 2, d / 2], 1) if d.ndim == 1 else d  # binary: one margin

    def predict_proba(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities (n, C) in ``classes_`` order, and empty-after-tokenisation flags."""
        tok = Tokenizer(self.text)
        empty = np.array([not tok(t) for t in texts], dtype=bool)
        if not texts:
            return np.zeros((0, len(self.classes_))), empty
        feats = self.pipeline_.named_steps["features"].transform(texts)
        model = self.pipeline_.named_steps["model"]
        if self.multilabel_:
            probs = _ova_probs(model, feats)
            return probs, empty
        if self.config.linear_model == "svm":
            probs = softmax(self._svm_logits(feats) / self.temperature_)
        else:
            probs = np.asarray(model.predict_proba(feats), dtype=np.float64)
        order = [self._model_classes().index(c) for c in self.classes_]
        return probs[:, order], empty

    def save(self, folder: Path) -> None:
        joblib.dump({"pipeline": self.pipeline_, "temperature": self.temperature_,
                     "classes": self.classes_, "multilabel": self.multilabel_}, folder / FILENAME)

    @classmethod
    def load(cls, path: Path, config: ClassifierConfig, text: TextConfig) -> LinearClassifier:
        """Only call on a file from a verified artifact: joblib runs code from the pickle."""
        data = joblib.load(path)
        self = cls(config, text)
        self.pipeline_, self.temperature_ = data["pipeline"], data["temperature"]
        self.classes_, self.multilabel_ = data["classes"], data["multilabel"]
        return self


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


def _ova_probs(model: OneVsRestClassifier, feats: object) -> np.ndarray:
    """Per-class probabilities of a one-vs-rest model (sigmoid of SVM margins when needed)."""
    if hasattr(model, "predict_proba") and hasattr(model.estimators_[0], "predict_proba"):
        return np.asarray(model.predict_proba(feats), dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-np.asarray(model.decision_function(feats), dtype=np.float64)))
