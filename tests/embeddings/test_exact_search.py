"""Exact search over the stored unit matrix (faiss) against gensim's ``most_similar`` as oracle.

Same neighbours in the same order and scores within 1e-5, for single words, analogies,
repeated query words, topn past the vocabulary and fastText's unseen words; an artifact
without ``vectors.unit.npy`` still loads and answers through gensim; one with gensim's pickled
``vectors.kv`` (before the data-only files) is refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from nlpsvc.artifacts import ArtifactError, ArtifactWriter, load_current, sha256_file, verify
from nlpsvc.embeddings import load_artifact
from nlpsvc.embeddings.model import NGRAMS, UNIT, VECTORS

EXTRA = 20  # oracle neighbours asked for past the cut, so a tie across it can be checked


def _same(ours: list, theirs: list[tuple[str, float]], topn: int) -> None:
    """``ours`` equals the oracle's first ``topn`` up to near-ties (1e-5), also across the cut.

    ``theirs`` holds ``topn + EXTRA`` neighbours: which of several tied words lands inside the
    cut depends on float summation order (BLAS, CPU), so a word of ours may be any oracle word
    that scores within 1e-5 of the oracle's word at that position, even one just past the cut.
    Scores must match position by position.
    """
    want_n = min(topn, len(theirs))
    assert len(ours) == want_n
    got = np.array([n.score for n in ours])
    want = np.array([s for _, s in theirs[:want_n]])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert len({n.word for n in ours}) == len(ours)  # no word twice
    for i, (n, (w, s)) in enumerate(zip(ours, theirs, strict=False)):
        if n.word != w:  # only a near-tie may swap places
            others = {x for x, y in theirs if abs(y - s) <= 1e-5}
            assert n.word in others, (i, n, w, s)


def _queries(kv: KeyedVectors) -> list[tuple[list[str], list[str], int]]:
    words = kv.index_to_key
    rng = np.random.default_rng(0)
    picks = [words[i] for i in rng.choice(len(words), 25, replace=False)]
    out = [([w], [], 10) for w in picks[:15]]
    out += [([picks[15], picks[16]], [picks[17]], 7), ([picks[18]], [picks[19], picks[20]], 5),
            ([picks[21], picks[21]], [], 4),  # a repeated query word
            ([picks[22]], [], 1), ([picks[23]], [], len(kv) + 50)]  # topn clipped
    return out


def test_unit_matrix_is_stored_and_mapped(w2v_artifact) -> None:
    assert UNIT in w2v_artifact.manifest["files"]
    model = load_artifact(w2v_artifact)
    assert isinstance(model.unit, np.memmap) and not model.unit.flags.writeable
    assert model.unit.dtype == np.float32 and model.unit.shape == model.kv.vectors.shape
    np.testing.assert_allclose(np.linalg.norm(model.unit, axis=1), 1, atol=1e-6)


def test_word2vec_matches_gensim(w2v_artifact) -> None:
    model = load_artifact(w2v_artifact)
    assert model.unit is not None and model.index is None
    kv = model.kv
    for pos, neg, topn in _queries(kv):
        ours, oov = model.most_similar(pos, neg, topn=topn)
        theirs = kv.most_similar(positive=pos, negative=neg, topn=min(topn + EXTRA, len(kv)))
        assert not oov
        _same(ours, theirs, topn)
        assert not set(pos + neg) & {n.word for n in ours}


def test_fasttext_matches_gensim_including_unseen_words(ft_artifact) -> None:
    model = load_artifact(ft_artifact)
    assert model.unit is not None
    kv = model.kv
    queries = _queries(kv)[:8] + [(["qwzxunseen"], [], 10), (["alicebeth", "queen"], ["king"], 6)]
    for pos, neg, topn in queries:
        ours, oov = model.most_similar(pos, neg, topn=topn)
        theirs = kv.most_similar(positive=pos, negative=neg, topn=min(topn + EXTRA, len(kv)))
        assert oov == any(not kv.has_index_for(w) for w in pos + neg)
        _same(ours, theirs, topn)


def test_fasttext_word_vectors_are_mapped(ft_artifact) -> None:
    assert {VECTORS, NGRAMS} <= set(ft_artifact.manifest["files"])
    model = load_artifact(ft_artifact)
    for arr in (model.kv.vectors, model.kv.vectors_ngrams):
        # (arithmetic on a memmap is a memmap too: check the mapping itself)
        assert isinstance(arr, np.memmap) and arr._mmap is not None
        assert not arr.flags.writeable
    stored = np.load(ft_artifact.file(VECTORS))
    assert np.array_equal(model.kv.vectors, stored)
    a, b = stored[model.kv.get_index("alice")], stored[model.kv.get_index("queen")]
    assert model.kv.similarity("alice", "queen") == pytest.approx(
        float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)), abs=1e-6)


def _without(artifact, tmp_path: Path, names: tuple[str, ...]) -> Path:
    """A copy of ``artifact`` as written before ``names`` existed."""
    old = tmp_path / "old"
    shutil.copytree(artifact.path, old)
    manifest = json.loads((old / "manifest.json").read_text(encoding="utf-8"))
    for name in names:
        (old / name).unlink()
        del manifest["files"][name]
    (old / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    for name, info in manifest["files"].items():
        assert sha256_file(old / name) == info["sha256"]
    return old


def test_older_artifact_without_unit_matrix_still_loads(w2v_artifact, tmp_path: Path) -> None:
    old = load_artifact(verify(_without(w2v_artifact, tmp_path, (UNIT,))))
    assert old.unit is None
    new = load_artifact(w2v_artifact)
    for pos, neg, topn in _queries(new.kv)[:5]:
        a, _ = old.most_similar(pos, neg, topn=topn + EXTRA)
        b, _ = new.most_similar(pos, neg, topn=topn)
        _same(b, [(n.word, n.score) for n in a], topn)


def test_fasttext_artifact_without_unit_matrix_still_loads(ft_artifact, tmp_path: Path) -> None:
    old = load_artifact(verify(_without(ft_artifact, tmp_path, (UNIT,))))
    assert old.unit is None
    neighbours, oov = old.most_similar(["qwzxunseen"], topn=3)
    assert oov and len(neighbours) == 3


def test_artifact_with_pickled_vectors_is_refused(w2v_artifact, tmp_path: Path) -> None:
    """gensim's vectors.kv is a pickle: not loaded, and the error says how to re-train."""
    kv = load_artifact(w2v_artifact, mmap=None).kv
    with ArtifactWriter(tmp_path / "models", "old", "embeddings") as w:
        kv.save(str(w.dir / "vectors.kv"), sep_limit=0)
        w.manifest.update(text={}, config={}, metrics={})
    with pytest.raises(ArtifactError, match=r"vectors\.kv, a pickle .* re-train it: nlpsvc "
                                            r"train <old corpus folder> --only embeddings"):
        load_artifact(load_current(tmp_path / "models" / "old" / "embeddings"))
