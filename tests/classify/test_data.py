"""Bad labelled input: skipped and counted, one class or unseen labels are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpora import open_corpus
from nlpsvc.artifacts import load_current
from nlpsvc.classify import ClassifierConfig, ClassifierDataError, evaluate_file
from nlpsvc.classify.data import clean, normalize_label, parse_line, read_labeled_file, split_off
from nlpsvc.classify.metrics import evaluate, expected_calibration_error
from nlpsvc.config import ConfigError, to_dataclass
from pipelines.base import TrainContext
from pipelines.classifier import ClassifierPipeline, read_split
from tests.classify.conftest import TINY, read_trec, write_tsv


def test_parse_tsv_and_fasttext_lines() -> None:
    assert parse_line("sci fi\tA story .\n", False) == (["sci fi"], "A story .")
    assert parse_line("no tab here", False)[0] == []
    assert parse_line("__label__a __label__b  two labels\n", True) == (["a", "b"], "two labels")
    assert parse_line("no label", True) == ([], "no label")


def test_clean_skips_and_counts_lines_without_label_or_text() -> None:
    ex = clean([(["a"], "x"), ([], "y"), (["  "], "z"), (["b"], "   "), (["a", "a"], "w"),
                (["sci \t fi"], "v")])
    assert ex.texts == ["x", "w", "v"] and ex.skipped == 3
    assert ex.labels == [["a"], ["a"], ["sci fi"]]
    assert normalize_label(" sci\t\tfi ") == "sci fi"


def test_read_labeled_file_counts_bad_lines(tmp_path: Path) -> None:
    p = tmp_path / "x.tsv"
    p.write_text("a\tone\nmissing tab\n\tno label\nb\t\nb\ttwo\n\n", encoding="utf-8")
    ex = read_labeled_file(p)
    assert ex.texts == ["one", "two"] and ex.skipped == 3


def test_pipeline_skips_bad_lines_and_reports_them(tmp_path: Path) -> None:
    rows = read_trec("train_5500.label", 400)
    corpus = tmp_path / "bad"
    corpus.mkdir()
    body = "".join(f"{lab}\t{t}\n" for lab, t in rows)
    (corpus / "labeled.train.tsv").write_text(
        body + "no-tab-line\n\tno label\nDESC\t   \n", encoding="utf-8")
    write_tsv(corpus / "labeled.test.tsv", read_trec("TREC_10.label", 100))
    ctx = TrainContext(open_corpus(corpus), {"classifier": {**TINY, "epochs": 2}},
                       tmp_path / "m", progress=False)
    result = ClassifierPipeline().run(ctx)
    ex = load_current(result.path.parent).manifest["metrics"]["examples"]
    assert ex["skipped"] == 3 and ex["train"] + ex["valid"] == 400 and ex["test"] == 100
    assert ex["skipped_by_reason"] == {"malformed": 1, "missing_label": 1, "missing_text": 1}


def test_one_class_only_is_a_clear_error(tmp_path: Path) -> None:
    corpus = tmp_path / "one"
    write_tsv(corpus / "labeled.tsv", [("pos", f"text number {i}") for i in range(50)])
    ctx = TrainContext(open_corpus(corpus), {"classifier": TINY}, tmp_path / "m", progress=False)
    with pytest.raises(ClassifierDataError, match="only one class .'pos'."):
        ClassifierPipeline().run(ctx)
    assert not (tmp_path / "m" / "one" / "classifier" / "CURRENT").exists()


def test_nothing_usable_is_a_clear_error(tmp_path: Path) -> None:
    corpus = tmp_path / "empty"
    corpus.mkdir()
    (corpus / "labeled.tsv").write_text("no tab\n\tx\n", encoding="utf-8")
    ctx = TrainContext(open_corpus(corpus), {"classifier": TINY}, tmp_path / "m", progress=False)
    with pytest.raises(ClassifierDataError, match="no usable labelled line"):
        ClassifierPipeline().run(ctx)


def test_unseen_label_at_eval_is_a_clear_error(trec_models: Path, tmp_path: Path) -> None:
    p = write_tsv(tmp_path / "eval.tsv", [("HUM", "Who is it ?"), ("SPORTS", "Who won ?")])
    with pytest.raises(ClassifierDataError, match="never seen in training: 'SPORTS'"):
        evaluate_file(trec_models, p)


def test_eval_file_gives_accuracy_and_macro_f1(trec_models: Path, tmp_path: Path) -> None:
    p = write_tsv(tmp_path / "eval.tsv", read_trec("TREC_10.label"))
    with open(p, "a", encoding="utf-8") as f:
        f.write("a line without a tab\n")
    out = evaluate_file(trec_models, p, variant="linear")
    assert out["n"] == 500 and out["skipped"] == 1 and out["variant"] == "linear"
    assert 0.6 < out["accuracy"] <= 1 and 0 < out["macro_f1"] <= 1


def test_splits_are_deterministic(trec_models: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    write_tsv(corpus / "labeled.tsv", read_trec("train_5500.label", 300))
    a = read_split(open_corpus(corpus), "valid")
    b = read_split(open_corpus(corpus), "valid")
    assert a.texts == b.texts and 0 < len(a) < 60
    keep1, out1 = split_off(read_split(open_corpus(corpus), "train"), 0.1, "valid")
    keep2, out2 = split_off(read_split(open_corpus(corpus), "train"), 0.1, "valid")
    assert out1.texts == out2.texts and len(keep1) + len(out1) == len(keep2) + len(out2)


def test_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="classifier.epoch"):
        to_dataclass(ClassifierConfig, {"epoch": 3}, "classifier")
    with pytest.raises(ConfigError, match="variants"):
        to_dataclass(ClassifierConfig, {"variants": ["svm"]}, "classifier")
    with pytest.raises(ConfigError, match="char_ngrams"):
        to_dataclass(ClassifierConfig, {"char_ngrams": [3]}, "classifier")
    cfg = to_dataclass(ClassifierConfig, {"variants": "fasttext", "word_ngrams": 3}, "classifier")
    assert cfg.variants == ["fasttext"] and cfg.word_ngrams == 3


def test_metrics_on_known_cases() -> None:
    import numpy as np

    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    m = evaluate(probs, [["a"], ["b"], ["b"], ["b"]], ["a", "b"], multilabel=False)
    assert m["accuracy"] == 0.75 and m["confusion"] == [[1, 0], [1, 2]]
    assert m["per_class"]["a"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    assert abs(m["macro_f1"] - (2 / 3 + 0.8) / 2) < 1e-12
    # ECE: one bin per distinct confidence here; |acc - conf| weighted by bin size
    conf, correct = np.array([0.9, 0.8, 0.6, 0.7]), np.array([1.0, 1.0, 0.0, 1.0])
    expected = (0.1 + 0.2 + 0.6 + 0.3) / 4
    assert abs(expected_calibration_error(conf, correct) - expected) < 1e-12
