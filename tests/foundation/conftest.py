"""An n-gram model set trained once per session from a real slice of the demo corpus."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from nlpsvc.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "corpora" / "demo"
SLICE_LINES = 1500


def demo_slice(folder: Path, lines: int = SLICE_LINES, name: str = "mini") -> Path:
    """The first ``lines`` sentences of the demo books as a corpus folder (hash-split)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(DEMO / "books.txt", encoding="utf-8") as f:
        text = "".join(itertools.islice(f, lines))
    (folder / "books.txt").write_text(text, encoding="utf-8")
    (folder / "corpus.toml").write_text(f'name = "{name}"\n[splits]\nvalid = 0.1\ntest = 0.1\n',
                                        encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def mini_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_slice(tmp_path_factory.mktemp("corpus") / "mini")


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory, mini_corpus: Path) -> Path:
    """``models/`` holding ``mini/ngram`` (trained by the real CLI)."""
    out = tmp_path_factory.mktemp("models")
    assert cli(["train", str(mini_corpus), "--only", "ngram", "--out", str(out), "-q"]) == 0
    return out


@pytest.fixture
def app(make_app, models_root: Path) -> Flask:  # noqa: ANN001
    return make_app(models_root)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
