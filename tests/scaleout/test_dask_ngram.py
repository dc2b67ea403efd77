"""N-gram counting on Dask workers: the same model files and ARPA bytes as the local build."""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any

import pytest

from corpora import open_corpus
from corpora.partitions import part_sentences, text_parts
from nlpsvc import ngram
from nlpsvc.ngram.distributed import build_mkn_dask

ROOT = Path(__file__).resolve().parents[2]
FALLBACK = (0.5, 1.0, 1.5)


def test_partitions_read_back_as_the_corpus() -> None:
    """Text, labelled texts and dialogue turns, cut into many byte ranges, in reading order."""
    corpus = open_corpus(ROOT / "corpora" / "demo")
    for split in ("train", "valid"):
        parts = text_parts(corpus, split, part_bytes=150_000)
        assert len(parts) > 5 and {p.source for p in parts} == {"text", "labeled", "dialogs"}
        got = [s for p in parts for s in part_sentences(p)]
        assert got == list(corpus.sentences(split))


@pytest.mark.parametrize(("order", "params"), [
    (3, {}),
    (4, {"min_count": 2, "discount_fallback": FALLBACK}),
    (3, {"max_size": 300}),
])
def test_arpa_is_byte_identical_to_the_local_build(client: Any, dask_corpus: Path,
                                                   tmp_path: Path, order: int,
                                                   params: dict[str, Any]) -> None:
    corpus = open_corpus(dask_corpus)
    with ngram.TempArea(tmp_path) as area:
        local = ngram.train_to_folder(corpus.sentences("train"), area.file("local"), order,
                                      min_count=params.get("min_count", 1),
                                      max_size=params.get("max_size"),
                                      discount_fallback=params.get("discount_fallback"),
                                      area=area)
        parts = text_parts(corpus, "train", part_bytes=20_000)  # a dozen, some tiny
        dist = build_mkn_dask(client, parts, part_sentences, area.file("dask"), order,
                              memory="64K", area=area, **params)
        names = sorted(p.name for p in dist.iterdir())
        assert "header.json" in names and "vocab.json" in names
        for name in names:
            assert filecmp.cmp(Path(local) / name, dist / name, shallow=False), name
        assert [p.name for p in area.path.iterdir() if p.name.startswith("part")] == []
        ngram.NgramModel.load(local).to_arpa(tmp_path / "local.arpa")
        ngram.NgramModel.load(dist).to_arpa(tmp_path / "dask.arpa")
    assert filecmp.cmp(tmp_path / "local.arpa", tmp_path / "dask.arpa", shallow=False)
    assert not list(tmp_path.glob("nlpsvc-ngram-*"))  # the temp area went with the build


def test_empty_corpus_is_the_local_error(client: Any, tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "train.txt").write_text("\n\n", encoding="utf-8")
    corpus = open_corpus(tmp_path / "c")
    with ngram.TempArea(tmp_path) as area, pytest.raises(ValueError, match="empty corpus"):
        build_mkn_dask(client, text_parts(corpus), part_sentences, area.file("m"), 3,
                       area=area)
