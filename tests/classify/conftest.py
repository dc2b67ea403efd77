"""Small classifiers trained once per session on a real slice of TREC question classification."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from corpora import open_corpus
from nlpsvc.artifacts import load_current
from nlpsvc.classify import load_artifact
from pipelines.base import TrainContext
from pipelines.classifier import ClassifierPipeline
from tests.conftest import shared_data

TRAIN_LINES = 1500

# Small and fast: both variants in a few seconds on one core; the fixed settings (tune_minutes 0:
# no cross-validated search, which test_tune.py covers).
TINY = {"epochs": 12, "dim": 32, "buckets": 1 << 16, "lr": 0.5, "batch_size": 16, "seed": 3,
        "patience": 4, "C": 1.0, "tune_minutes": 0}


def read_trec(name: str, limit: int | None = None) -> list[tuple[str, str]]:
    """(coarse label, question) pairs from a TREC file (Latin-1)."""
    out = []
    with open(shared_data("trec", name), encoding="latin-1") as f:
        for line in f:
            label, _, text = line.strip().partition(" ")
            out.append((label.split(":")[0], text))
            if limit is not None and len(out) >= limit:
                break
    return out


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{lab}\t{text}\n" for lab, text in rows), encoding="utf-8")
    return path


def train_corpus(folder: Path, out: Path, **settings: object):  # noqa: ANN201 - Result
    ctx = TrainContext(corpus=open_corpus(folder), config={"classifier": settings}, out=out,
                       progress=False)
    return ClassifierPipeline().run(ctx)


@pytest.fixture(scope="session")
def trec_test() -> list[tuple[str, str]]:
    return read_trec("TREC_10.label")


@pytest.fixture(scope="session")
def trec_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/<trec-small> with both variants trained by the pipeline."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("classify")
    corpus = root / "trec-small"
    write_tsv(corpus / "labeled.train.tsv", read_trec("train_5500.label", TRAIN_LINES))
    write_tsv(corpus / "labeled.test.tsv", read_trec("TREC_10.label"))
    train_corpus(corpus, root / "models", **TINY)
    return root / "models" / "trec-small"


@pytest.fixture(scope="session")
def trec_classifier(trec_models: Path):  # noqa: ANN201 - TextClassifier
    return load_artifact(load_current(trec_models / "classifier"))


def majority_rate(rows: list[tuple[str, str]]) -> float:
    return Counter(lab for lab, _ in rows).most_common(1)[0][1] / len(rows)
