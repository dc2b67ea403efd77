"""Oracle: the pipeline feeds gensim exactly the token stream bare gensim reads.

On pre-tokenised text (``\\w+(?:'\\w+)?``, lower-cased, as the benchmark builds it) the pipeline
with ``workers=1`` and a seed must give bit-identical vectors to bare gensim over
``LineSentence`` of the same file: the same vocabulary in the same order, the same training.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from gensim.models import FastText, Word2Vec
from gensim.models.word2vec import LineSentence

from nlpsvc.artifacts import load_current
from nlpsvc.embeddings import load_artifact
from tests.embeddings.conftest import TINY, train

_WORD_RE = re.compile(r"\w+(?:'\w+)?")


@pytest.fixture(scope="module")
def pretokenized(tmp_path_factory: pytest.TempPathFactory, books_text: str) -> Path:
    folder = tmp_path_factory.mktemp("pretok") / "pretok"
    folder.mkdir()
    lines = (" ".join(_WORD_RE.findall(line.lower())) for line in books_text.splitlines())
    (folder / "train.txt").write_text("".join(f"{x}\n" for x in lines if x), encoding="utf-8")
    (folder / "corpus.toml").write_text('name = "pretok"\n', encoding="utf-8")
    return folder


@pytest.mark.parametrize("algorithm", ["skipgram", "cbow", "fasttext"])
def test_pipeline_vectors_equal_bare_gensim(pretokenized: Path, tmp_path: Path,
                                            algorithm: str) -> None:
    settings = {k: TINY[k] for k in ("vector_size", "epochs", "min_count", "workers", "seed")}
    train(pretokenized, tmp_path, **TINY, algorithm=algorithm, evaluate=False)
    ours = load_artifact(load_current(tmp_path / "pretok" / "embeddings"), mmap=None).kv

    sentences = LineSentence(str(pretokenized / "train.txt"))
    if algorithm == "fasttext":
        model = FastText(sentences, sg=1, min_n=3, max_n=6, bucket=TINY["bucket"], **settings)
    else:
        model = Word2Vec(sentences, sg=int(algorithm == "skipgram"), **settings)
    bare = model.wv
    assert ours.index_to_key == bare.index_to_key
    assert np.array_equal(ours.vectors, bare.vectors)
    if algorithm == "fasttext":
        assert np.array_equal(ours.vectors_ngrams, bare.vectors_ngrams)
        # an unseen word's vector is composed from the stored n-gram buckets as gensim does
        assert np.array_equal(ours.get_vector("qwzxunseenish"), bare.get_vector("qwzxunseenish"))
