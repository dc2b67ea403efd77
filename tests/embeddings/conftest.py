"""Tiny embedding models trained once per session on a real slice of Gutenberg books."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from corpora import open_corpus
from nlpsvc.artifacts import load_current
from pipelines.base import TrainContext
from pipelines.embeddings import EmbeddingsPipeline
from tests.conftest import SHARED_DATA, shared_data

DATA = SHARED_DATA
GUTENBERG = DATA / "gutenberg"
EVAL = DATA / "embedding-eval"
EVAL_FILES = ("wordsim353.tsv", "simlex999.txt", "questions-words.txt")
BOOKS = ("carroll-alice.txt", "austen-emma.txt", "chesterton-brown.txt")
LINES_PER_BOOK = 2500

# Small and fast: a few seconds for both models on one core.
TINY = {"vector_size": 24, "epochs": 3, "min_count": 3, "workers": 1, "seed": 1,
        "bucket": 20_000}


def _need_data() -> None:
    """Skip without ../shared/data; with it, a missing book or evaluation set fails."""
    for name in BOOKS:
        shared_data("gutenberg", name)
    for name in EVAL_FILES:
        shared_data("embedding-eval", name)


def book_slice() -> str:
    """The first lines of a few public-domain books (deterministic)."""
    _need_data()
    parts = []
    for name in BOOKS:
        with open(GUTENBERG / name, encoding="utf-8") as f:
            parts.extend(line for line in itertools.islice(f, LINES_PER_BOOK) if line.strip())
    return "".join(parts)


def make_corpus(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "books.txt").write_text(text, encoding="utf-8")
    (folder / "corpus.toml").write_text(f'name = "{name}"\n', encoding="utf-8")
    return folder


def train(corpus_dir: Path, out: Path, **settings: object) -> object:
    ctx = TrainContext(corpus=open_corpus(corpus_dir), config={"embeddings": {**settings}},
                       out=out, progress=False)
    pipeline = EmbeddingsPipeline()
    pipeline.check(ctx)
    return pipeline.run(ctx)


@pytest.fixture(scope="session")
def books_text() -> str:
    return book_slice()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory, books_text: str) -> Path:
    """``models/`` with two sets: ``books`` (word2vec skip-gram) and ``booksft`` (fastText)."""
    root = tmp_path_factory.mktemp("emb")
    out = root / "models"
    train(make_corpus(root / "books", "books", books_text), out, **TINY)
    train(make_corpus(root / "booksft", "booksft", books_text), out, **TINY,
          algorithm="fasttext")
    return out


@pytest.fixture(scope="session")
def w2v_artifact(models_dir: Path):  # noqa: ANN201
    return load_current(models_dir / "books" / "embeddings")


@pytest.fixture(scope="session")
def ft_artifact(models_dir: Path):  # noqa: ANN201
    return load_current(models_dir / "booksft" / "embeddings")


@pytest.fixture(scope="session")
def client(models_dir: Path):  # noqa: ANN201
    from nlpsvc.service import create_app

    app = create_app({"TESTING": True, "MODELS_DIR": str(models_dir)})
    return app.test_client()
