"""Classifier pipeline: labelled corpus files -> both variants -> held-out figures -> artifact.

Splits come from the corpus (files named ``train``/``valid``/``test``, or its stable hash split);
a split the corpus does not give is carved from train by a hash of the line, so reruns agree.

With ``classifier.tune_minutes`` > 0 (the default) the settings of each variant are picked by
stratified k-fold cross-validation on the train split (``nlpsvc.classify.tune``), no validation
split is carved (the folds hold every line out once; the final models see all of train), and
the variant with the better cross-validated accuracy becomes the default ``/classify`` serves.
With 0, the fixed settings are trained and the better variant on the validation split is the
default.
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
from nlpsvc.classify.tune import TuneResult, tune, usable_folds
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

    def run(self, ctx: TrainContext) -> Result:
        started = time.perf_counter()
        cfg: ClassifierConfig = self.config(ctx)  # checked by nlpsvc.config.family_config
        name = ctx.corpus.name
        train = read_split(ctx.corpus, "train")
        valid = read_split(ctx.corpus, "valid")
        test = read_split(ctx.corpus, "test")
        skipped = train.skipped + valid.skipped + test.skipped
        tuning = cfg.tune_minutes > 0
        if not len(valid) and not tuning:
            train, valid = split_off(train, cfg.valid_fraction, "valid")
        if not len(test):
            train, test = split_off(train, cfg.test_fraction, "test")
        untuned = None
        if tuning and usable_folds(train.labels, cfg.tune_folds) < 2:
            untuned = f"too few lines to fold ({len(train)} in train)"
            log.warning("%s: %s; training the fixed settings", name, untuned)
            tuning = False
            if not len(valid):
                train, valid = split_off(train, cfg.valid_fraction, "valid")
        classes = check_trainable(train, f"corpus {name!r} (train split)")
        if not len(test) and not len(valid) and not tuning:
            raise ClassifierDataError(f"corpus {name!r}: too few labelled lines to hold any out")
        multilabel = train.multilabel or valid.multilabel or test.multilabel
        valid, dropped_valid = drop_unseen(valid, classes)
        test, dropped_test = drop_unseen(test, classes)
        if dropped_valid or dropped_test:
            log.warning("%s: %d held-out lines carry labels unseen in training; not scored",
                        name, dropped_valid + dropped_test)
        if skipped:
            log.warning("%s: %d labelled lines without label or text skipped", name, skipped)

        tuned: TuneResult | None = None
        if tuning:
            # the keys the user set (corpus.toml, --config, --set) are held fixed
            tuned = tune(train, classes, multilabel, cfg, ctx.text,
                         fixed=set(ctx.section("classifier")))
            assert tuned is not None  # usable_folds was checked above
            cfg = tuned.config
        models: dict[str, Any] = {}
        report: dict[str, Any] = {}
        for variant in cfg.variants:
            t0 = time.perf_counter()
            held = (valid.texts, valid.labels) if len(valid) else None
            if variant == "linear" and tuned is not None and tuned.linear is not None:
                # from the counts the folds were cut from; temperature on out-of-fold margins
                # when the corpus has no validation split
                model: Any = LinearClassifier(cfg, ctx.text).fit(
                    train.texts, train.labels, classes=classes, multilabel=multilabel,
                    valid=held, features=tuned.linear.final_features(cfg),
                    calibration=tuned.linear.calibration(cfg))
                tuned.linear.release()
            else:
                cls = FastTextClassifier if variant == "fasttext" else LinearClassifier
                model = cls(cfg, ctx.text).fit(train.texts, train.labels, classes=classes,
                                               multilabel=multilabel, valid=held)
            seconds = time.perf_counter() - t0
            models[variant] = model
            report[variant] = {"train_seconds": round(seconds, 3)}
            best = tuned.best(variant) if tuned is not None else None
            if best is not None:
                report[variant]["cv"] = {"accuracy": best.mean, "fold_accuracy": best.folds,
                                         "params": best.params}
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
            # by cross-validated accuracy when tuned (a variant without a completed point
            # ranks below), else on the validation split; ties go to the variant listed first
            def rank(v: str) -> tuple:
                cv = report[v].get("cv", {}).get("accuracy")
                return (cv is not None, cv or 0.0,
                        report[v].get("valid", {}).get("accuracy", 0.0), -cfg.variants.index(v))

            default = max(cfg.variants, key=rank)
        headline = (report[default].get("test") or report[default].get("valid")
                    or report[default].get("cv") or {})
        metrics = {
            "accuracy": headline.get("accuracy"),
            "macro_f1": headline.get("macro_f1"),
            "ece": headline.get("ece"),
            "default_variant": default,
            "variants": report,
            "classes": classes,
            "multilabel": multilabel,
            "tuning": tuned.report() if tuned is not None else {
                "enabled": False, "reason": untuned or "classifier.tune_minutes = 0"},
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
