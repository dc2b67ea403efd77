"""Training-time word vectors (``classifier.pretrained``, ``chatbot.pretrained_embeddings``):
word2vec text and binary (also gzipped), nlpsvc embeddings folders and gensim ``.kv`` all read
to the same vectors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from nlpsvc.artifacts import ArtifactWriter
from nlpsvc.embeddings import save_vectors
from nlpsvc.embeddings.pretrained import read_pretrained, word2vec_is_binary

DIM = 12


@pytest.fixture(scope="module")
def kv() -> KeyedVectors:
    rng = np.random.default_rng(0)
    out = KeyedVectors(DIM)
    words = ["the", "cat", "naïve", "new_york", "x"]
    out.add_vectors(words, rng.standard_normal((len(words), DIM)).astype(np.float32))
    return out


def _same(a: KeyedVectors, b: KeyedVectors, atol: float = 0.0) -> None:
    assert a.index_to_key == b.index_to_key and a.vector_size == b.vector_size
    np.testing.assert_allclose(a.vectors, b.vectors, atol=atol, rtol=0)


@pytest.mark.parametrize("name,binary", [("v.txt", False), ("v.bin", True), ("v.vec", False),
                                         ("v.txt.gz", False), ("v.bin.gz", True),
                                         ("vectors", True)])  # no telling suffix
def test_word2vec_files(kv: KeyedVectors, tmp_path: Path, name: str, binary: bool) -> None:
    path = tmp_path / name
    kv.save_word2vec_format(str(path), binary=binary)
    assert word2vec_is_binary(path) is binary
    _same(read_pretrained(path), kv, atol=0 if binary else 1e-6)


def test_nlpsvc_folders_and_gensim_kv(kv: KeyedVectors, tmp_path: Path) -> None:
    with ArtifactWriter(tmp_path / "models", "c", "embeddings") as w:
        save_vectors(kv, w.dir)
        w.manifest.update(text={}, config={}, metrics={})
    kind_dir = tmp_path / "models" / "c" / "embeddings"
    _same(read_pretrained(kind_dir), kv)  # CURRENT version, hashes checked
    _same(read_pretrained(w.version_dir), kv)
    plain = tmp_path / "plain"
    shutil.copytree(w.version_dir, plain)
    (plain / "manifest.json").unlink()
    _same(read_pretrained(plain), kv)
    kv.save(str(tmp_path / "v.kv"))
    _same(read_pretrained(tmp_path / "v.kv"), kv)


def test_not_vectors_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello world\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not word vectors.*COUNT DIM"):
        read_pretrained(path)
