"""Classifier pipeline: labelled corpus files -> both variants -> held-out figures -> artifact.

Splits come from the corpus (files named ``train``/``valid``/``test``, or its stable hash split);
a split the corpus does not give is carved from train by a hash of the line, so reruns agree.
The variant with the better validation accuracy becomes the default that ``/classify`` serves.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from nlpsvc.classify.config import ClassifierConfig
from nlpsvc.classify.data import (
    ClassifierDataError,
    Examples,
    check_trainable,
    clean,
    split_off,
)
from nlpsvc.classify.fasttext import FastTextClassifier
from nlpsvc.classify.linear import LinearClassifier
from nlpsvc.classify.metrics import evaluate, plot_confusion
from nlpsvc.config import to_dataclass
from pipelines.base import Pipeline, Result, TrainContext

log = logging.getLogger(__name__)


def read_split(corpus: Any, split: str) -> Examples:
    """The labelled records of one split, with bad lines skipped and counted (not fatal).

    The corpus reader skips and counts lines without label or text (``corpus.skipped``);
    ``clean`` then normalises labels, as ``nlpsvc eval`` does for a single file.
    """
    examples = clean(corpus.labeled(split))
    examples.skipped += corpus.skipped.records("labeled", split)
    return examples


def drop_unseen(examples: Examples, classes: list[str]) -> tuple[Examples, int]:
    """Held-out lines whose labels training never saw cannot be scored: drop and count them."""
    known = set(classes)
    out = Examples(skipped=examples.skipped)
    dropped = 0
    for text, labels in zip(examples.texts, examples.labels, strict=True):
        if set(labels) <= known:
            out.texts.append(text)
            out.labels.append(labels)
        else:
            dropped += 1
    return out, dropped


class ClassifierPipeline(Pipeline):
    kind = "classifier"

    def has_data(self, corpus: Any) -> bool:
        return bool(corpus.has_labeled)

    def config(self, ctx: TrainContext) -> ClassifierConfig:
        return to_dataclass(ClassifierConfig, ctx.section("classifier"), "classifier")

    def check(self, ctx: TrainContext) -> None:
        self.config(ctx)

    def run(self, ctx: TrainContext) -> Result:
        started = time.perf_counter()
        cfg = self.config(ctx)
        name = ctx.corpus.name
        train = read_split(ctx.corpus, "train")
        valid = read_split(ctx.corpus, "valid")
        test = read_split(ctx.corpus, "test")
        skipped = train.skipped + valid.skipped + test.skipped
        if not len(valid):
            train, valid = split_off(train, cfg.valid_fraction, "valid")
        if not len(test):
            train, test = split_off(train, cfg.test_fraction, "test")
        classes = check_trainable(train, f"corpus {name!r} (train split)")
        if not len(test) and not len(valid):
            raise ClassifierDataError(f"corpus {name!r}: too few labelled lines to hold any out")
        multilabel = train.multilabel or valid.multilabel or test.multilabel
        valid, dropped_valid = drop_unseen(valid, classes)
        test, dropped_test = drop_unseen(test, classes)
        if dropped_valid or dropped_test:
            log.warning("%s: %d held-out lines carry labels unseen in training; not scored",
                        name, dropped_valid + dropped_test)
        if skipped:
            log.warning("%s: %d labelled lines without label or text skipped", name, skipped)

        models: dict[str, Any] = {}
        report: dict[str, Any] = {}
        for variant in cfg.variants:
            t0 = time.perf_counter()
            cls = FastTextClassifier if variant == "fasttext" else LinearClassifier
            model = cls(cfg, ctx.text).fit(
                train.texts, train.labels, classes=classes, multilabel=multilabel,
                valid=(valid.texts, valid.labels) if len(valid) else None,
            )
            seconds = time.perf_counter() - t0
            models[variant] = model
            report[variant] = {"train_seconds": round(seconds, 3)}
            for split_name, data in (("valid", valid), ("test", test)):
                if len(data):
                    probs, _ = model.predict_proba(data.texts)
                    report[variant][split_name] = evaluate(probs, data.labels, classes, multilabel)
            if variant == "fasttext":
                report[variant]["best_epoch"] = model.best_epoch_
                report[variant]["history"] = model.history_  # the training curve
                report[variant]["pretrained_words"] = model.pretrained_words_
            log.info("%s: %s variant trained in %.1f s", name, variant, seconds)

        default = cfg.default_variant
        if default == "auto":
            # ties go to the variant listed first in classifier.variants
            default = max(cfg.variants, key=lambda v: (
                report[v].get("valid", {}).get("accuracy", 0.0), -cfg.variants.index(v)))
        headline = report[default].get("test") or report[default].get("valid") or {}
        metrics = {
            "accuracy": headline.get("accuracy"),
            "macro_f1": headline.get("macro_f1"),
            "ece": headline.get("ece"),
            "default_variant": default,
            "variants": report,
            "classes": classes,
            "multilabel": multilabel,
            "examples": {"train": len(train), "valid": len(valid), "test": len(test),
                         "skipped": skipped, "skipped_by_reason": ctx.corpus.skipped.get("labeled"),
                         "unseen_label_dropped": dropped_valid + dropped_test},
        }

        def write(folder: Path) -> None:
            for variant, model in models.items():
                model.save(folder)
                conf = report[variant].get("test", {}).get("confusion")
                if conf is not None:
                    plot_confusion(conf, classes, folder / f"confusion_{variant}.png",
                                   title=f"{name}: {variant} (test)")

        return self.publish(
            ctx, write, config={**ctx.config, "classifier": cfg.to_dict()}, metrics=metrics,
            libraries=("torch", "scikit-learn", "safetensors"),
            extra={"default_variant": default, "classes": classes}, started=started,
            metric="accuracy",
        )
