"""No pickle in a classifier artifact (issue 14): data-only files, the same answers as the
fitted scikit-learn model, and artifacts saved as pickles refused with how to re-train."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.pipeline import FeatureUnion, Pipeline

from nlpsvc.artifacts import ArtifactError, ArtifactWriter, load_current
from nlpsvc.classify import ClassifierConfig, load_artifact
from nlpsvc.classify.linear import LinearClassifier, make_estimator
from nlpsvc.service.registry import Registry
from nlpsvc.text import TextConfig
from tests.classify.conftest import TINY, read_trec
from tests.datafiles import assert_data_only


def test_artifact_holds_data_only(trec_models: Path) -> None:
    art = load_current(trec_models / "classifier")
    names = assert_data_only(art.path)
    assert {"linear.json", "linear.coef.npy", "linear.intercept.npy", "linear.idf.word.npy",
            "fasttext.safetensors", "fasttext.json"} <= set(names)


def _rows(n: int, labels: tuple[str, ...] | None = None) -> tuple[list[str], list[list[str]]]:
    rows = [r for r in read_trec("train_5500.label", 3 * n) if not labels or r[0] in labels][:n]
    return [t for _, t in rows], [[lab] for lab, _ in rows]


@pytest.mark.parametrize("linear_model,labels,chars", [
    ("logreg", None, [0, 0]),  # multinomial
    ("logreg", ("HUM", "NUM"), [2, 4]),  # binary: one margin, and word + char parts
    ("svm", ("HUM", "NUM"), [0, 0]),
])
def test_linear_arithmetic_is_scikit_learns(tmp_path: Path, linear_model: str,
                                            labels: tuple[str, ...] | None,
                                            chars: list[int]) -> None:
    """The saved arrays give scikit-learn's own probabilities (LR) or margins (SVM)."""
    texts, y = _rows(500, labels)
    classes = sorted({ls[0] for ls in y})
    cfg = ClassifierConfig(**{**TINY, "linear_model": linear_model, "char_ngrams": chars})
    model = LinearClassifier(cfg, TextConfig()).fit(texts, y, classes=classes, multilabel=False)
    parts = model._parts()  # scikit-learn's own pipeline: same deterministic fit
    reference = Pipeline([("features", parts[0][1] if len(parts) == 1 else FeatureUnion(parts)),
                          ("model", make_estimator(cfg, False))]).fit(texts, [ls[0] for ls in y])
    probe = texts[:60] + ["never seen words", ""]
    model.save(tmp_path)
    loaded = LinearClassifier.load(tmp_path, cfg, TextConfig())
    assert np.array_equal(loaded.predict_proba(probe)[0], model.predict_proba(probe)[0])
    # lbfgs keeps float32 coefficients and scikit-learn multiplies in float32; ours in float64
    tol = {"rtol": 1e-6, "atol": 1e-6} if linear_model == "logreg" else {"rtol": 1e-12}
    margins = np.asarray(reference.decision_function(probe), np.float64).reshape(len(probe), -1)
    np.testing.assert_allclose(loaded._decision(probe), margins, **tol)
    if linear_model == "logreg":
        np.testing.assert_allclose(loaded.predict_proba(probe)[0],
                                   reference.predict_proba(probe), **tol)


@pytest.mark.filterwarnings("ignore:Label .* is present in all training examples")
@pytest.mark.parametrize("linear_model", ["logreg", "svm"])
def test_linear_multilabel_roundtrip(tmp_path: Path, linear_model: str) -> None:
    """One-vs-rest: each class's sigmoid; a class on every line is a constant 1."""
    texts, y = _rows(300)
    y = [[*ls, "Q"] for ls in y]  # "Q" on every line: scikit-learn keeps a constant predictor
    classes = sorted({lab for ls in y for lab in ls})
    cfg = ClassifierConfig(**{**TINY, "linear_model": linear_model})
    model = LinearClassifier(cfg, TextConfig()).fit(texts, y, classes=classes, multilabel=True)
    model.save(tmp_path)
    loaded = LinearClassifier.load(tmp_path, cfg, TextConfig())
    probs = loaded.predict_proba(texts[:40])[0]
    assert np.array_equal(probs, model.predict_proba(texts[:40])[0])
    assert (probs[:, classes.index("Q")] == 1.0).all()
    assert ((probs >= 0) & (probs <= 1)).all()


def test_linear_load_refuses_a_mismatched_file(tmp_path: Path) -> None:
    texts, y = _rows(200)
    cfg = ClassifierConfig(**TINY)
    LinearClassifier(cfg, TextConfig()).fit(texts, y, classes=sorted({ls[0] for ls in y}),
                                            multilabel=False).save(tmp_path)
    np.save(tmp_path / "linear.coef.npy", np.zeros((6, 3)))
    with pytest.raises(ValueError, match="do not fit"):
        LinearClassifier.load(tmp_path, cfg, TextConfig())
    np.save(tmp_path / "linear.coef.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        LinearClassifier.load(tmp_path, cfg, TextConfig())


@pytest.mark.parametrize("legacy", ["linear.joblib", "fasttext.pt"])
def test_artifact_with_pickles_is_refused(trec_models: Path, tmp_path: Path,
                                          legacy: str) -> None:
    art = load_current(trec_models / "classifier")
    with ArtifactWriter(tmp_path / "models", "old", "classifier") as w:
        for name in art.manifest["files"]:
            shutil.copy(art.path / name, w.dir / name)
        torch.save({"pickled": torch.zeros(1)}, w.dir / legacy)
        w.manifest.update({k: art.manifest[k] for k in ("config", "text", "default_variant")})
    old = load_current(tmp_path / "models" / "old" / "classifier")
    with pytest.raises(ArtifactError, match=rf"{legacy}, a pickle .* re-train it: nlpsvc train "
                                            r"<old corpus folder> --only classifier"):
        load_artifact(old)
    reg = Registry.from_dir(tmp_path / "models")
    assert reg.sets["old"] == {} and "re-train" in reg.errors[0]["error"]
