"""Training, artifacts, evaluation and export of the embeddings family."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from corpora import open_corpus
from nlpsvc.artifacts import versions
from nlpsvc.config import ConfigError
from nlpsvc.embeddings import (
    EmbeddingModel,
    EmbeddingsConfig,
    EmbeddingsError,
    TokenFile,
    evaluate_analogies,
    evaluate_pairs,
    fit,
    load_artifact,
)
from pipelines.base import TrainContext
from pipelines.embeddings import EmbeddingsPipeline
from tests.datafiles import assert_data_only
from tests.embeddings.conftest import EVAL, TINY, make_corpus, train


def test_manifest_files_and_metrics(w2v_artifact) -> None:
    m = w2v_artifact.manifest
    assert m["kind"] == "embeddings" and m["config"]["algorithm"] == "skipgram"
    files = set(m["files"])
    assert {"vectors.npy", "vocab.json", "vectors.unit.npy"} <= files
    assert "vectors.ngrams.npy" not in files  # word2vec: no subwords
    assert_data_only(w2v_artifact.path)  # no pickle
    metrics = m["metrics"]
    for name in ("wordsim353", "simlex999"):
        assert math.isfinite(metrics[f"{name}_spearman"])
        assert 0 < metrics[f"{name}_oov_ratio"] < 1
    assert 0 <= metrics["analogies_accuracy"] <= 1
    assert 0 < metrics["valid_oov_ratio"] < 0.5
    assert metrics["vocab_size"] == m["training"]["vocab_size"] > 500
    assert m["training"]["words_per_second"] > 0
    assert "gensim" in m["libraries"]


def test_reload_memory_maps_vectors(w2v_artifact) -> None:
    model = load_artifact(w2v_artifact)
    assert isinstance(model.kv.vectors, np.memmap)
    assert not model.kv.vectors.flags.writeable
    vocab = json.loads(w2v_artifact.file("vocab.json").read_text(encoding="utf-8"))
    assert model.kv.index_to_key == vocab["words"] and vocab["fasttext"] is None
    counts = [model.kv.get_vecattr(w, "count") for w in model.kv.index_to_key]
    assert counts == vocab["counts"] == sorted(counts, reverse=True)
    neighbours, oov = model.most_similar(["Alice"], topn=5)  # query words are lower-cased
    assert not oov and len(neighbours) == 5 and "alice" not in {n.word for n in neighbours}


def test_fasttext_reload_and_subwords(ft_artifact) -> None:
    model = load_artifact(ft_artifact)
    assert model.subwords
    assert isinstance(model.kv.vectors_ngrams, np.memmap)
    assert model.kv.vectors_ngrams.shape == (TINY["bucket"], TINY["vector_size"])
    assert "vectors.ngrams.npy" in assert_data_only(ft_artifact.path)
    assert not model.known("alicebeth")
    vec, oov = model.vector("alicebeth")
    assert oov and vec.shape == (TINY["vector_size"],) and np.linalg.norm(vec) > 0
    m = ft_artifact.manifest["metrics"]
    assert math.isfinite(m["wordsim353_spearman_all"])  # every pair scored via subwords


def _gold_oov(kv: KeyedVectors, path: Path) -> tuple[int, int]:
    total = oov = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        a, b, _ = line.split("\t")
        total += 1
        oov += not (kv.has_index_for(a.lower()) and kv.has_index_for(b.lower()))
    return total, oov


@pytest.mark.parametrize("name", ["wordsim353.tsv", "simlex999.txt"])
def test_shipped_pair_files(w2v_artifact, name: str) -> None:
    kv = load_artifact(w2v_artifact).kv
    res = evaluate_pairs(kv, EVAL / name)
    total, oov = _gold_oov(kv, EVAL / name)
    assert res["pairs"] == total and res["skipped_lines"] == 0
    assert res["oov_ratio"] == pytest.approx(oov / total, abs=1e-6)
    assert math.isfinite(res["spearman"]) and math.isfinite(res["pearson"])
    assert -1 <= res["spearman"] <= 1


def test_malformed_pairs_are_skipped_and_counted(w2v_artifact, tmp_path: Path) -> None:
    kv = load_artifact(w2v_artifact).kv
    words = kv.index_to_key[10:16]
    path = tmp_path / "pairs.tsv"
    path.write_text(
        "# a comment\n"
        f"{words[0]}\t{words[1]}\t3.5\n"
        f"{words[2]}\t{words[3]}\t1.0\n"
        f"{words[4]}\t{words[5]}\tnot-a-number\n"  # malformed
        f"{words[0]}\t{words[3]}\n"  # malformed: two fields
        f"{words[1]}\tzzqxunseen\t2.0\n"  # valid, OOV
        f"{words[2]}\t{words[5]}\t9.0\n",
        encoding="utf-8",
    )
    res = evaluate_pairs(kv, path)
    assert res["skipped_lines"] == 2 and res["pairs"] == 4
    assert res["oov_ratio"] == pytest.approx(0.25)
    assert math.isfinite(res["spearman"])


def test_analogies_counts(w2v_artifact, tmp_path: Path) -> None:
    kv = load_artifact(w2v_artifact).kv
    a, b, c, d = kv.index_to_key[20:24]
    path = tmp_path / "questions.txt"
    path.write_text(f": section\n{a} {b} {c} {d}\n{b} {a} {d} {c}\n{a} {b} zzqxunseen {d}\n"
                    "only three words\n", encoding="utf-8")
    res = evaluate_analogies(kv, path)
    assert res == {**res, "questions": 3, "evaluated": 2, "skipped_lines": 1}
    assert res["oov_ratio"] == pytest.approx(1 / 3, abs=1e-6)
    assert 0 <= res["accuracy"] <= 1


def test_export_word2vec_and_cli(models_dir: Path, w2v_artifact, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from nlpsvc.cli import main

    out = tmp_path / "vectors.txt"
    assert main(["export", "--models", str(models_dir / "books"), "--kind", "embeddings",
                 "--format", "word2vec", "--output", str(out)]) == 0
    exported = KeyedVectors.load_word2vec_format(str(out), binary=False)
    kv = load_artifact(w2v_artifact).kv
    assert exported.index_to_key == kv.index_to_key
    assert np.allclose(exported.vectors, kv.vectors, atol=1e-5)
    binary = tmp_path / "vectors.bin"
    assert main(["export", "--models", str(models_dir / "books"), "--kind", "embeddings",
                 "--format", "word2vec-binary", "--output", str(binary)]) == 0
    assert np.array_equal(KeyedVectors.load_word2vec_format(str(binary), binary=True).vectors,
                          kv.vectors)
    capsys.readouterr()
    assert main(["eval", "--models", str(models_dir / "books"), "--kind", "embeddings",
                 "--pairs", str(EVAL / "wordsim353.tsv"), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert {"spearman", "pearson", "oov_ratio"} <= set(figures)
    assert main(["eval", "--models", str(models_dir / "books"), "--kind", "embeddings",
                 "--analogies", str(EVAL / "questions-words.txt"), "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["accuracy"] <= 1


def _lines(text: str, n: int) -> list[list[str]]:
    return [line.lower().split() for line in text.splitlines()[:n] if line.split()]


def test_determinism_with_one_worker_and_seed(books_text: str) -> None:
    sentences = _lines(books_text, 1500)
    cfg = dict(vector_size=16, epochs=2, min_count=3, workers=1, evaluate=False)
    first = fit(sentences, EmbeddingsConfig(seed=7, **cfg)).wv
    second = fit(sentences, EmbeddingsConfig(seed=7, **cfg)).wv
    other = fit(sentences, EmbeddingsConfig(seed=8, **cfg)).wv
    assert first.index_to_key == second.index_to_key
    assert np.array_equal(first.vectors, second.vectors)
    assert not np.array_equal(first.vectors, other.vectors)


def test_one_shot_generator_is_rejected(books_text: str) -> None:
    gen = (s for s in _lines(books_text, 100))
    with pytest.raises(EmbeddingsError, match="one-shot"):
        fit(gen, EmbeddingsConfig(workers=1))


def test_token_file_is_restartable(tmp_path: Path, books_text: str) -> None:
    sentences = _lines(books_text, 200)
    tokens, stats = TokenFile.write(tmp_path / "t.tok", sentences)
    assert list(tokens) == list(tokens) == sentences
    assert stats.tokens == sum(map(len, sentences))


def test_too_few_words_publishes_nothing(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "small", "small", "one two three\nfour five six\n" * 2)
    out = tmp_path / "models"
    with pytest.raises(EmbeddingsError, match="min_count=5"):
        train(corpus, out, min_count=5, workers=1)
    kind_dir = out / "small" / "embeddings"
    assert not (kind_dir / "CURRENT").exists() and versions(kind_dir) == []
    assert not kind_dir.exists() or not any(kind_dir.iterdir())  # no temp folder left


@pytest.mark.parametrize(
    ("settings", "key"),
    [({"window": 0}, "embeddings.window"), ({"algorithm": "glove"}, "embeddings.algorithm"),
     ({"vector_size": "big"}, "embeddings.vector_size"), ({"hs": False, "negative": 0},
     "embeddings.negative"), ({"windows": 5}, "embeddings.windows")],
)
def test_bad_config_fails_before_reading(tmp_path: Path, settings: dict, key: str) -> None:
    ctx = TrainContext(corpus=open_corpus(make_corpus(tmp_path / "c", "c", "a b c\n")),
                       config={"embeddings": settings}, out=tmp_path / "m", progress=False)
    with pytest.raises(ConfigError, match=key):
        EmbeddingsPipeline().check(ctx)


def test_phrases_and_ann_index(tmp_path: Path, books_text: str) -> None:
    corpus = make_corpus(tmp_path / "ph", "ph", books_text)
    res = train(corpus, tmp_path / "models", **TINY, phrases=True, phrases_min_count=3,
                ann_threshold=0, evaluate=False)
    from nlpsvc.artifacts import verify

    art = verify(res.path)
    assert art.manifest["phrases"] > 0
    ann = art.manifest["ann"]
    assert ann["served"] and ann["recall_at_10"] >= 0.95 and "ann.faiss" in art.manifest["files"]
    model = load_artifact(art)
    assert model.index is not None
    exact = EmbeddingModel(model.kv)
    for word in model.kv.index_to_key[5:25]:
        approx = {n.word for n in model.most_similar([word], topn=10)[0]}
        truth = {n.word for n in exact.most_similar([word], topn=10)[0]}
        assert word not in approx and len(approx & truth) >= 7
    assert any("_" in w for w in model.kv.index_to_key)  # phrases joined before training
