"""Classifier defaults benchmark (suite "classifier_defaults", issue 14): what a user gets from
``nlpsvc train`` with no classifier setting at all, against the best anchor of
``../shared/reference/classification.md`` on each of its four data sets.

Each data set (splits and loaders of ``bench/classifier.py``, as the anchors') is written as a
corpus of ``labeled.train.tsv`` and ``labeled.test.tsv`` (whitespace runs and tabs flattened to
one space, which changes no token), then trained by the real ``ClassifierPipeline`` with the
default config: the settings of both variants are picked by stratified 3-fold cross-validation
on train within ``classifier.tune_minutes`` (default), and the picked variant is the default
``/classify`` serves. Its test accuracy is measured on the loaded artifact over every test text
of the anchor's split (empty ones included, which the corpus reader would skip). One thread,
under ``flock /tmp/nlpsvc-bench.lock``.

    python -m bench.classifier_defaults [DATASET ...]   # measure (all, or some: merged with
                                                        # the stored results), store, render
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import load, publish, table

NAME = "classifier_defaults"
TITLE = "Classifier: default settings (cross-validated by the pipeline) vs the best anchor"
COMMAND = "flock /tmp/nlpsvc-bench.lock python -m bench.run --only classifier_defaults"


def _flat(text: str) -> str:
    return " ".join(text.split())


def run_dataset(name: str, workdir: Path) -> dict[str, Any]:
    """Train ``name`` through the pipeline with the default config; the figures of one row."""
    import numpy as np
    import torch

    from bench.classifier import ANCHOR_BEST, DATASETS
    from corpora import open_corpus
    from nlpsvc.artifacts import load_current
    from nlpsvc.classify import load_artifact
    from pipelines.base import TrainContext
    from pipelines.classifier import ClassifierPipeline

    torch.set_num_threads(1)
    (tr_x, tr_y), (te_x, te_y) = DATASETS[name]()
    corpus = workdir / name
    corpus.mkdir(parents=True)
    for split, xs, ys in (("train", tr_x, tr_y), ("test", te_x, te_y)):
        (corpus / f"labeled.{split}.tsv").write_text(
            "".join(f"{ys_[0]}\t{_flat(x)}\n" for x, ys_ in zip(xs, ys, strict=True)),
            encoding="utf-8")
    t0 = time.perf_counter()
    ClassifierPipeline().run(TrainContext(open_corpus(corpus), {}, workdir / "models",
                                          progress=False))
    seconds = time.perf_counter() - t0
    art = load_current(workdir / "models" / name / "classifier")
    model = load_artifact(art)
    m = art.manifest["metrics"]
    gold = np.array([ys[0] for ys in te_y])
    accuracy = {}
    for variant in model.variants:
        probs, _ = model.predict_proba(te_x, variant)
        accuracy[variant] = float(np.mean(np.array(model.classes)[probs.argmax(1)] == gold))
    anchor, anchor_name = ANCHOR_BEST[name]
    return {
        "train": len(tr_x), "test": len(te_x), "train_lines_used": m["examples"]["train"],
        "default_variant": model.default, "test_accuracy": accuracy,
        "anchor": anchor, "anchor_name": anchor_name, "pipeline_seconds": seconds,
        "train_seconds": {v: m["variants"][v]["train_seconds"] for v in model.variants},
        "tuning": m["tuning"],
    }


def render(results: dict[str, Any]) -> str:
    """The section, from the stored results only."""
    rows, tried = [], []
    for name, r in results["datasets"].items():
        acc = r["test_accuracy"]
        picked = 100 * acc[r["default_variant"]]
        t = r["tuning"]
        rows.append([
            name, f"{r['train']:,} / {r['test']:,}", f"{picked:.2f} ({r['default_variant']})",
            f"{r['anchor']:.2f} ({r['anchor_name']})",
            "yes" if picked >= r["anchor"] else "**no**",
            " / ".join(f"{100 * acc[v]:.2f}" for v in ("linear", "fasttext") if v in acc),
            f"{t['seconds']:.0f} of {t['budget_seconds']:.0f}",
            f"{t['completed']} of {len(t['points'])}",
            f"{r['pipeline_seconds']:.0f}",
        ])
        for v, p in t["picked"].items():
            tried.append([name, v, "none completed (fixed settings)" if p is None else
                          f"`{_params(p['params'])}` ({100 * p['cv_accuracy']:.2f})"])
    points = [[i + 1, p["variant"], f"`{_params(p['params'])}`"] for i, p in
              enumerate(next(iter(results["datasets"].values()))["tuning"]["points"])]
    per_point = []
    for name, r in results["datasets"].items():
        per_point.append([name] + [
            (f"{100 * p['cv_accuracy']:.2f}" if "cv_accuracy" in p else p["status"])
            for p in r["tuning"]["points"]])
    return (
        (__doc__ or "").split("\n\n", 1)[1].split("\n\n    python", 1)[0].strip() + "\n\n"
        "Test accuracy % of the served default variant, against the best anchor column; both "
        "variants' test accuracy (TF-IDF / fastText-style); tuning wall seconds against the "
        "budget; grid points completed on every fold; the whole `nlpsvc train` pipeline "
        "(tuning, final fits of both variants, evaluation, publishing) in seconds:\n\n"
        + table(["dataset", "train / test", "default: picked variant", "best anchor",
                 "picked ≥ anchor", "TF-IDF / fastText-style", "tuning s of budget",
                 "points completed", "pipeline s"], rows) + "\n\n"
        "Settings picked per variant (in brackets: mean held-out accuracy % over the 3 folds):\n\n"
        + table(["dataset", "variant", "picked (cv accuracy %)"], tried) + "\n\n"
        "The grid in the order it is tried (`nlpsvc.classify.tune.GRID`; TF-IDF: word 1-2-grams, "
        "sublinear tf, min_df 2, LinearSVC; fastText-style: dim 50, 2^19 buckets, per-example "
        "SGD, no early stopping), and each point's mean cross-validated accuracy % per data set "
        "(skipped: it would not have fitted in the budget left):\n\n"
        + table(["#", "variant", "settings"], points) + "\n\n"
        + table(["dataset"] + [f"#{i + 1}" for i in range(len(points))], per_point) + "\n"
    )


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def main(only: list[str] | None = None) -> None:
    """Measure every data set (or ``only``, merged into the stored results), store, render."""
    from bench.classifier import DATASETS

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    names = only or list(DATASETS)
    stored = load(NAME)
    datasets = dict(stored["results"]["datasets"]) if stored and only else {}
    with tempfile.TemporaryDirectory(prefix="nlpsvc-bench-cls-defaults-") as tmp:
        for name in names:
            print(f"[classifier_defaults] {name} ...", file=sys.stderr, flush=True)
            datasets[name] = run_dataset(name, Path(tmp))
            print(f"[classifier_defaults] {name}: {datasets[name]['test_accuracy']} "
                  f"default {datasets[name]['default_variant']}", file=sys.stderr, flush=True)
    order = [n for n in DATASETS if n in datasets]
    publish(NAME, TITLE, {"datasets": {n: datasets[n] for n in order}}, render, COMMAND)


if __name__ == "__main__":
    main(sys.argv[1:] or None)
