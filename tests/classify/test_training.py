"""Both variants learn a real task, give proper probabilities and survive save/reload."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nlpsvc.artifacts import load_current
from nlpsvc.classify import ClassifierConfig, load_artifact
from nlpsvc.classify.fasttext import FastTextClassifier
from nlpsvc.classify.linear import LinearClassifier
from nlpsvc.text import TextConfig
from tests.classify.conftest import TINY, majority_rate, read_trec
from tests.conftest import shared_data
from tests.datafiles import assert_data_only


@pytest.mark.parametrize("variant", ["linear", "fasttext"])
def test_accuracy_well_above_majority(trec_classifier, trec_test, variant: str) -> None:
    texts = [t for _, t in trec_test]
    gold = np.array([lab for lab, _ in trec_test])
    probs, _ = trec_classifier.predict_proba(texts, variant)
    acc = float(np.mean(np.array(trec_classifier.classes)[probs.argmax(1)] == gold))
    majority = majority_rate(trec_test)  # DESC, about 0.28
    assert acc > majority + 0.35, (variant, acc, majority)


def test_manifest_records_metrics_and_default(trec_models: Path) -> None:
    art = load_current(trec_models / "classifier")
    m = art.manifest["metrics"]
    assert m["default_variant"] in ("linear", "fasttext")
    assert art.manifest["default_variant"] == m["default_variant"]
    best = max(("linear", "fasttext"), key=lambda v: m["variants"][v]["valid"]["accuracy"])
    assert m["variants"][m["default_variant"]]["valid"]["accuracy"] == \
        m["variants"][best]["valid"]["accuracy"]
    for v in ("linear", "fasttext"):
        test = m["variants"][v]["test"]
        assert test["n"] == 500
        assert 0 <= test["ece"] <= 1 and 0 < test["macro_f1"] <= 1
        assert np.asarray(test["confusion"]).sum() == 500
        assert set(test["per_class"]) == set(m["classes"])
        png = art.file(f"confusion_{v}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert m["classes"] == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert art.manifest["config"]["classifier"]["epochs"] == TINY["epochs"]


@pytest.mark.parametrize("variant", ["linear", "fasttext"])
def test_probabilities_sum_to_one_and_top_k_sorted(trec_classifier, variant: str) -> None:
    texts = ["What is the capital of France ?", "Who wrote Hamlet ?", "How many feet in a mile ?"]
    probs, empty = trec_classifier.predict_proba(texts, variant)
    assert probs.shape == (3, 6) and not empty.any()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    rows = trec_classifier.classify(texts, top_k=6, variant=variant)
    for row in rows:
        ps = [lab["prob"] for lab in row["labels"]]
        assert ps == sorted(ps, reverse=True) and len(ps) == 6
    assert rows[1]["labels"][0]["label"] == "HUM"
    assert rows[2]["labels"][0]["label"] == "NUM"


def test_blank_text_is_classified_from_the_bias_and_flagged(trec_classifier) -> None:
    for variant in ("linear", "fasttext"):
        rows = trec_classifier.classify(["   ", "Who is he ?"], top_k=2, variant=variant)
        assert rows[0]["empty"] is True and rows[1]["empty"] is False
        assert len(rows[0]["labels"]) == 2
    # the fastText variant's prior: the bias alone, softmaxed
    ft = trec_classifier.variants["fasttext"]
    bias = ft.module_.output.bias.detach().numpy().astype(np.float64)
    prior = np.exp(bias - bias.max()) / np.exp(bias - bias.max()).sum()
    probs, _ = trec_classifier.predict_proba([" "], "fasttext")
    np.testing.assert_allclose(probs[0], prior, rtol=1e-5)


def test_reload_gives_identical_predictions(trec_models: Path, trec_test) -> None:
    texts = [t for _, t in trec_test[:200]] + ["", "zzzz unseen qqqq words"]
    a = load_artifact(load_current(trec_models / "classifier"))
    b = load_artifact(load_current(trec_models / "classifier"))
    for v in ("linear", "fasttext"):
        assert np.array_equal(a.predict_proba(texts, v)[0], b.predict_proba(texts, v)[0])


@pytest.mark.parametrize("cls", [LinearClassifier, FastTextClassifier])
def test_save_load_roundtrip_matches_the_fitted_model(tmp_path: Path, cls) -> None:
    rows = read_trec("train_5500.label", 600)
    texts, labels = [t for _, t in rows], [[lab] for lab, _ in rows]
    classes = sorted({lab for lab, _ in rows})
    cfg = ClassifierConfig(**{**TINY, "epochs": 3})
    model = cls(cfg, TextConfig()).fit(texts, labels, classes=classes, multilabel=False,
                                       valid=(texts[:100], labels[:100]))
    model.save(tmp_path)
    if cls is LinearClassifier:
        loaded = cls.load(tmp_path, cfg, TextConfig())
    else:
        loaded = cls.load(tmp_path / "fasttext.safetensors", tmp_path / "fasttext.json", cfg,
                          TextConfig())
    assert_data_only(tmp_path)  # no pickle
    probe = texts[:50] + ["never seen words here", "  "]
    assert np.array_equal(model.predict_proba(probe)[0], loaded.predict_proba(probe)[0])


def test_fasttext_is_deterministic_given_the_seed() -> None:
    rows = read_trec("train_5500.label", 400)
    texts, labels = [t for _, t in rows], [[lab] for lab, _ in rows]
    classes = sorted({lab for lab, _ in rows})
    cfg = ClassifierConfig(**{**TINY, "epochs": 2, "dropout": 0.2})
    p1 = FastTextClassifier(cfg, TextConfig()).fit(
        texts, labels, classes=classes, multilabel=False).predict_proba(texts[:20])[0]
    p2 = FastTextClassifier(cfg, TextConfig()).fit(
        texts, labels, classes=classes, multilabel=False).predict_proba(texts[:20])[0]
    assert np.array_equal(p1, p2)


def test_multilabel_lines_train_one_vs_all(tmp_path: Path) -> None:
    """``.ft`` lines with two labels (coarse and fine TREC class) switch to -loss ova."""
    from corpora import open_corpus
    from pipelines.base import TrainContext
    from pipelines.classifier import ClassifierPipeline

    lines = []
    with open(shared_data("trec", "train_5500.label"), encoding="latin-1") as f:
        for line in list(f)[:800]:
            label, _, text = line.strip().partition(" ")
            coarse, fine = label.split(":")
            lines.append(f"__label__{coarse} __label__{coarse}-{fine} {text}\n")
    corpus = tmp_path / "multi"
    corpus.mkdir()
    (corpus / "questions.ft").write_text("".join(lines), encoding="utf-8")
    ctx = TrainContext(open_corpus(corpus), {"classifier": {**TINY, "epochs": 6}},
                       tmp_path / "models", progress=False)
    result = ClassifierPipeline().run(ctx)
    model = load_artifact(load_current(result.path.parent))
    assert model.multilabel and model.variants["fasttext"].loss_ == "ova"
    probs, _ = model.predict_proba(["Who was the first president ?"], "fasttext")
    assert ((probs >= 0) & (probs <= 1)).all()
    metrics = json.loads((result.path / "manifest.json").read_text())["metrics"]
    assert metrics["multilabel"] is True and metrics["accuracy"] > 0.4


def test_fasttext_lr_one_does_not_diverge(trec_test) -> None:
    """fastText's own lr 1.0 trains (summed mini-batch steps diverged there in epoch 1)."""
    rows = read_trec("train_5500.label", 1500)
    texts, labels = [t for _, t in rows], [[lab] for lab, _ in rows]
    classes = sorted({lab for lab, _ in rows})
    cfg = ClassifierConfig(**{**TINY, "lr": 1.0, "batch_size": 32, "epochs": 5, "dim": 50,
                              "word_ngrams": 2})
    model = FastTextClassifier(cfg, TextConfig()).fit(texts, labels, classes=classes,
                                                      multilabel=False)
    # never above the loss of uniform guessing, log(6) = 1.79: no blow-up, finite or not
    assert all(r["train_loss"] < 1.8 for r in model.history_), model.history_
    assert model.history_[-1]["train_loss"] < model.history_[0]["train_loss"]
    probs, _ = model.predict_proba([t for _, t in trec_test])
    acc = float(np.mean(np.array(classes)[probs.argmax(1)] == [lab for lab, _ in trec_test]))
    assert acc > majority_rate(trec_test) + 0.4, acc


def test_without_numba_training_falls_back_to_the_pytorch_reference(monkeypatch) -> None:
    """A broken numba install still trains (example_step per batch), with a warning."""
    from nlpsvc.classify import sgd_kernel

    monkeypatch.setattr(sgd_kernel, "AVAILABLE", False)
    rows = read_trec("train_5500.label", 600)
    texts, labels = [t for _, t in rows], [[lab] for lab, _ in rows]
    classes = sorted({lab for lab, _ in rows})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: OpenMP threads on a busy machine cost 100x
    try:
        model = FastTextClassifier(ClassifierConfig(**{**TINY, "epochs": 4}), TextConfig()).fit(
            texts, labels, classes=classes, multilabel=False)
    finally:
        torch.set_num_threads(threads)
    assert model.history_[-1]["train_loss"] < model.history_[0]["train_loss"]
    probs, _ = model.predict_proba(texts[:100])
    acc = float(np.mean(np.array(classes)[probs.argmax(1)] == [lab for lab, _ in rows[:100]]))
    assert acc > 0.5, acc  # majority class: about 0.2
