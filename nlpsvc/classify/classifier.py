"""The served classifier: both variants of one artifact behind one ``classify`` call.

``load_artifact`` rebuilds it from a verified artifact; ``classify`` gives the ``/classify``
result rows (also written by ``nlpsvc score --kind classifier``); ``evaluate_examples`` and
``evaluate_file`` give the figures of ``nlpsvc eval --kind classifier``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlpsvc.artifacts import Artifact, load_current, refuse_pickle
from nlpsvc.classify.config import VARIANTS, ClassifierConfig
from nlpsvc.classify.data import ClassifierDataError, Examples, check_known, read_labeled_file
from nlpsvc.classify.fasttext import LEGACY_WEIGHTS, META, WEIGHTS, FastTextClassifier
from nlpsvc.classify.linear import FILENAME as LINEAR_FILE
from nlpsvc.classify.linear import LEGACY_FILE as LEGACY_LINEAR
from nlpsvc.classify.linear import LinearClassifier
from nlpsvc.classify.metrics import evaluate
from nlpsvc.config import to_dataclass
from nlpsvc.text import TextConfig
from nlpsvc.torch_threads import set_serving_threads

Model = FastTextClassifier | LinearClassifier


@dataclass
class TextClassifier:
    """Trained variants sharing one label set; ``default`` answers when no variant is named."""

    variants: dict[str, Model]
    default: str
    classes: list[str]
    multilabel: bool

    def model(self, variant: str | None = None) -> Model:
        name = variant or self.default
        if name not in self.variants:
            have = ", ".join(sorted(self.variants))
            if name in VARIANTS:
                raise ValueError(f"variant {name!r} was not trained for this model (have: {have})")
            raise ValueError(f"unknown variant {name!r}; expected one of: {have}")
        return self.variants[name]

    def predict_proba(self, texts: list[str], variant: str | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (n, C) in ``classes`` order, and empty-after-tokenisation flags (n,)."""
        return self.model(variant).predict_proba(texts)

    def classify(self, texts: list[str], top_k: int = 1, variant: str | None = None
                 ) -> list[dict[str, Any]]:
        """The ``top_k`` most probable labels of each text, best first.

        A text with no token left after tokenisation is classified from the bias alone (the
        class prior the model learnt) and flagged ``"empty": true``.
        """
        if not 1 <= top_k <= len(self.classes):
            raise ValueError(f"top_k must be between 1 and {len(self.classes)} (the classes)")
        probs, empty = self.predict_proba(texts, variant)
        top = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
        return [
            {"labels": [{"label": self.classes[j], "prob": round(float(p[j]), 6)} for j in row],
             "empty": bool(e)}
            for p, row, e in zip(probs, top, empty, strict=True)
        ]

    def evaluate_examples(self, examples: Examples, variant: str | None = None,
                          where: str = "evaluation data") -> dict[str, Any]:
        """Figures on labelled examples; a label unknown to the model is a clear error."""
        if not len(examples):
            raise ClassifierDataError(
                f"{where}: no usable labelled line ({examples.skipped} skipped)")
        check_known(examples, self.classes, where)
        probs, _ = self.predict_proba(examples.texts, variant)
        out = evaluate(probs, examples.labels, self.classes, self.multilabel)
        out.update(variant=variant or self.default, skipped=examples.skipped)
        return out


def load_artifact(artifact: Artifact) -> TextClassifier:
    """Rebuild the classifier from a verified artifact (hashes already checked).

    Every file is data (JSON, ``.npy``, safetensors); an artifact saved before that (joblib or
    ``torch.save`` pickles) is refused with the command that re-trains it.
    """
    m = artifact.manifest
    files = m.get("files", {})
    legacy = [name for name in (LEGACY_LINEAR, LEGACY_WEIGHTS) if name in files]
    if legacy:
        raise refuse_pickle(artifact, " and ".join(legacy))
    config = to_dataclass(ClassifierConfig, m.get("config", {}).get("classifier"), "classifier")
    text = TextConfig.from_dict(m.get("text"))
    variants: dict[str, Model] = {}
    if LINEAR_FILE in files:
        variants["linear"] = LinearClassifier.load(artifact.path, config, text,
                                                   file=artifact.file)
    if WEIGHTS in files:
        set_serving_threads()  # $NLPSVC_TORCH_THREADS or 1, as the chatbot
        variants["fasttext"] = FastTextClassifier.load(
            artifact.file(WEIGHTS), artifact.file(META), config, text)
    if not variants:
        raise ValueError(f"{artifact.path}: classifier artifact holds no model file")
    default = m.get("default_variant") or next(iter(variants))
    first = next(iter(variants.values()))
    return TextClassifier(variants, default if default in variants else next(iter(variants)),
                          first.classes_, first.multilabel_)


def load_dir(models: str | Path) -> TextClassifier:
    """The current classifier of a model set folder (``models/<corpus-name>``)."""
    return load_artifact(load_current(Path(models) / "classifier"))


def evaluate_file(models: str | Path, input_path: str | Path, *, variant: str | None = None,
                  errors: str = "strict") -> dict[str, Any]:
    """``nlpsvc eval --models DIR --kind classifier --input FILE``: accuracy, macro_f1, …"""
    model = load_dir(models)
    return model.evaluate_examples(read_labeled_file(input_path, errors), variant,
                                   where=str(input_path))


def cli_eval(artifact: Artifact, args: Any) -> dict[str, Any]:
    """``nlpsvc eval --kind classifier --input FILE`` (hook called by ``nlpsvc.cli``)."""
    if not getattr(args, "input", None):
        raise ValueError("eval --kind classifier needs --input FILE (label<TAB>text or .ft)")
    model = load_artifact(artifact)
    examples = read_labeled_file(args.input, getattr(args, "errors", None) or "strict")
    return model.evaluate_examples(examples, getattr(args, "variant", None), where=args.input)


def batch_classify(artifact: Artifact, model: TextClassifier, texts: list[str], *,
                   top_k: int = 1, variant: str | None = None) -> list[dict[str, Any]]:
    """``nlpsvc score --kind classifier`` (called by ``nlpsvc.batch``): one ``/classify``
    result row per text, in input order."""
    return model.classify(texts, top_k=top_k, variant=variant)
