"""Corpus readers: file conventions, splits, compression, bad bytes, restartable streams."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import pytest

from corpora import CorpusError, open_corpus, split_of_name
from nlpsvc.text import TextConfig
from tests.conftest import SHARED_DATA

PTB = SHARED_DATA / "ptb"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("ptb.train.txt", "train"), ("train.txt", "train"), ("training-data.txt", "train"),
        ("ptb.valid.txt", "valid"), ("dev.txt", "valid"), ("dialogues_validation", "valid"),
        ("labeled.test.tsv", "test"), ("book.txt", None), ("contest.txt", None),
    ],
)
def test_split_of_name(name: str, split: str | None) -> None:
    assert split_of_name(name) == split


def test_given_splits_and_file_kinds(tmp_path: Path) -> None:
    write(tmp_path / "train.txt", "the cat sat\n\nthe dog ran\n")
    write(tmp_path / "valid.txt", "a cat ran\n")
    write(tmp_path / "test.txt", "the end\n")
    write(tmp_path / "README.txt", "not data\n")
    write(tmp_path / "labeled.train.tsv", "pos\tgood film\nneg\tbad film\n")
    write(tmp_path / "more.valid.ft", "__label__a __label__b two labels here\n")
    write(tmp_path / "dialogs.train.tsv", "hi\thello\n")
    write(tmp_path / "dialogs.valid.jsonl", json.dumps({"turns": ["a", "b", "c"]}) + "\n")
    write(tmp_path / "dialogues_test.txt", "how are you ? __eou__ fine . __eou__\n")
    write(tmp_path / "dialogues_act_test.txt", "1 2\n")
    c = open_corpus(tmp_path, text=TextConfig(tokenizer="whitespace"))
    assert c.name == tmp_path.name
    assert c.has_text and c.has_labeled and c.has_dialogs
    assert list(c.lines("train", sources=["text"])) == ["the cat sat", "the dog ran"]
    assert list(c.lines("valid", sources=["text"])) == ["a cat ran"]
    assert list(c.labeled("train")) == [(["pos"], "good film"), (["neg"], "bad film")]
    assert list(c.labeled("valid")) == [(["a", "b"], "two labels here")]
    assert list(c.dialogs("train")) == [["hi", "hello"]]
    assert list(c.dialogs("valid")) == [["a", "b", "c"]]
    assert list(c.pairs("valid")) == [("a", "b"), ("b", "c")]
    assert list(c.dialogs("test")) == [["how are you ?", "fine ."]]
    # the text side of labelled and dialogue records feeds the text models too
    assert list(c.sentences("train")) == [
        ["the", "cat", "sat"], ["the", "dog", "ran"], ["good", "film"], ["bad", "film"],
        ["hi"], ["hello"],
    ]
    names = {f.path.name for f in c.files}
    assert "README.txt" not in names and "dialogues_act_test.txt" not in names


def test_hash_split_is_deterministic_and_partitions(tmp_path: Path) -> None:
    lines = [f"sentence number {i}" for i in range(2000)]
    write(tmp_path / "book.txt", "\n".join(lines) + "\n")
    parts = {s: list(open_corpus(tmp_path).lines(s)) for s in ("train", "valid", "test")}
    assert sorted(sum(parts.values(), [])) == sorted(lines)
    assert 40 < len(parts["valid"]) < 170 and 40 < len(parts["test"]) < 170
    again = open_corpus(tmp_path)
    assert list(again.lines("valid")) == parts["valid"]
    # a different seed gives a different split
    write(tmp_path / "corpus.toml", '[splits]\nseed = "other"\nvalid = 0.2\ntest = 0.0\n')
    other = open_corpus(tmp_path)
    assert list(other.lines("test")) == []
    assert set(other.lines("valid")) != set(parts["valid"])


def test_corpus_toml(tmp_path: Path) -> None:
    write(tmp_path / "corpus.toml",
          'name = "mine"\n[text]\ntokenizer = "whitespace"\nlowercase = false\n'
          '[ngram]\norder = 4\n')
    write(tmp_path / "train.txt", "Hello , World\n")
    c = open_corpus(tmp_path)
    assert c.name == "mine"
    assert c.text_config == TextConfig(tokenizer="whitespace", lowercase=False)
    assert list(c.sentences("train")) == [["Hello", ",", "World"]]
    assert c.config()["ngram"] == {"order": 4}
    # an explicit TextConfig wins over corpus.toml
    assert open_corpus(tmp_path, text=TextConfig()).text_config.lowercase is True


@pytest.mark.parametrize(
    ("ext", "opener"),
    [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open)],
)
def test_compressed(tmp_path: Path, ext: str, opener) -> None:  # noqa: ANN001
    with opener(tmp_path / f"train.txt{ext}", "wt", encoding="utf-8") as f:
        f.write("über alles\nzwei\n")
    c = open_corpus(tmp_path)
    assert list(c.lines("train")) == ["über alles", "zwei"]
    assert c.files[0].split == "train"


def test_bad_bytes_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_bytes(b"fine\nalso fine\nbad \xff byte\n")
    with pytest.raises(CorpusError, match=r"train\.txt:3: invalid UTF-8"):
        list(open_corpus(tmp_path).lines("train"))
    lines = list(open_corpus(tmp_path, errors="replace").lines("train"))
    assert lines[2] == "bad \ufffd byte"


LABELED_LINES = (
    "pos\tgood film\n"
    "no tab here\n"  # malformed
    "\tno label\n"  # missing_label
    "neg\t   \n"  # missing_text
    "neg\tbad film\n"
)


@pytest.mark.parametrize("errors", ["strict", "replace"])
def test_bad_labelled_lines_are_skipped_and_counted(tmp_path: Path, errors: str) -> None:
    write(tmp_path / "labeled.train.tsv", LABELED_LINES)
    write(tmp_path / "more.valid.ft",
          "__label__a text one\nno label here\n__label__b\n__label__ __label__c three\n"
          "__label__ empty label only\n")
    c = open_corpus(tmp_path, errors=errors)
    assert list(c.labeled("train")) == [(["pos"], "good film"), (["neg"], "bad film")]
    assert c.skipped.get("labeled", "train") == {
        "malformed": 1, "missing_label": 1, "missing_text": 1}
    assert list(c.labeled("valid")) == [(["a"], "text one"), (["c"], "three")]
    assert c.skipped.get("labeled", "valid") == {
        "malformed": 0, "missing_label": 2, "missing_text": 1}
    assert c.skipped.get("labeled") == {"malformed": 1, "missing_label": 3, "missing_text": 2}
    assert c.skipped.records("labeled") == 6
    assert c.skipped.summary("labeled", "train") == (
        "3 skipped (malformed 1, missing_label 1, missing_text 1)")
    # the text models see the good lines only, and the counts are the same pass's
    assert list(c.lines("train", sources=["labeled"])) == ["good film", "bad film"]
    assert c.skipped.as_dict()["labeled"] == c.skipped.get("labeled")


def test_skip_counts_are_per_pass_not_accumulated(tmp_path: Path) -> None:
    path = write(tmp_path / "labeled.train.tsv", LABELED_LINES)
    c = open_corpus(tmp_path)
    stream = c.labeled("train")
    assert c.skipped.records("labeled") == 0  # nothing read yet
    for _ in range(3):  # three epochs: still the bad lines of one pass
        assert len(list(stream)) == 2
        assert c.skipped.records("labeled", "train") == 3
    path.write_text("pos\tfixed\nneg\tnow\n", encoding="utf-8")
    assert len(list(stream)) == 2 and c.skipped.records("labeled") == 0
    assert c.skipped.as_dict()["dialogs"] == {"malformed": 0, "single_turn": 0, "empty_turns": 0}


def test_bad_dialogues_are_skipped_and_counted(tmp_path: Path) -> None:
    write(tmp_path / "dialogs.train.jsonl", "\n".join([
        json.dumps({"turns": ["hi", "", "hello", "how are you ?"]}),  # one empty turn dropped
        json.dumps({"turns": ["only one"]}),  # single_turn
        json.dumps({"turns": ["  ", "lonely"]}),  # empty turn, then single_turn
        json.dumps({"turns": []}),  # single_turn
        json.dumps({"turns": "not a list"}),  # malformed
        "{not json}",  # malformed
    ]) + "\n")
    write(tmp_path / "dialogs.valid.tsv", "a\tb\nno tab\n\tjust a reply\n")
    write(tmp_path / "dialogues_test.txt",
          "x . __eou__ __eou__ y . __eou__\nalone . __eou__\n")
    c = open_corpus(tmp_path)
    assert list(c.dialogs("train")) == [["hi", "hello", "how are you ?"]]
    assert c.skipped.get("dialogs", "train") == {
        "malformed": 2, "single_turn": 3, "empty_turns": 2}
    assert list(c.pairs("valid")) == [("a", "b")]
    assert c.skipped.get("dialogs", "valid") == {
        "malformed": 1, "single_turn": 1, "empty_turns": 1}
    assert list(c.dialogs("test")) == [["x .", "y ."]]  # DailyDialog's final __eou__ is no turn
    assert c.skipped.get("dialogs", "test") == {
        "malformed": 0, "single_turn": 1, "empty_turns": 1}
    assert c.skipped.records("dialogs") == 8  # empty turns are not skipped records
    assert c.skipped.get("labeled") == {"malformed": 0, "missing_label": 0, "missing_text": 0}


def test_bad_byte_in_a_labelled_file_is_still_an_error(tmp_path: Path) -> None:
    (tmp_path / "labeled.train.tsv").write_bytes(b"pos\tfine\nneg\tbad \xff byte\n")
    with pytest.raises(CorpusError, match=r"labeled\.train\.tsv:2: invalid UTF-8"):
        list(open_corpus(tmp_path).labeled("train"))
    c = open_corpus(tmp_path, errors="replace")
    assert list(c.labeled("train"))[1] == (["neg"], "bad \ufffd byte")
    assert c.skipped.records("labeled") == 0


def test_streams_are_restartable_and_lazy(tmp_path: Path) -> None:
    path = write(tmp_path / "train.txt", "one\ntwo\n")
    c = open_corpus(tmp_path)
    stream = c.sentences("train")
    assert list(stream) == list(stream) == [["one"], ["two"]]
    path.write_text("three\n", encoding="utf-8")  # each pass re-opens the file
    assert list(stream) == [["three"]]


def test_single_file_and_sha256(tmp_path: Path) -> None:
    path = write(tmp_path / "book.txt.gz", "")
    with gzip.open(path, "wt") as f:
        f.write("\n".join(f"line {i}" for i in range(100)))
    c = open_corpus(path)
    assert c.name == "book" and c.has_text and not c.has_labeled
    assert sum(len(list(c.lines(s))) for s in ("train", "valid", "test")) == 100
    assert len(c.sha256()) == 64
    assert open_corpus(path).sha256() == c.sha256()
    with pytest.raises(CorpusError, match="no such"):
        open_corpus(tmp_path / "missing")
    with pytest.raises(ValueError, match="unknown split"):
        c.lines("held-out")


@pytest.mark.shared_data("ptb")
def test_ptb_folder() -> None:
    c = open_corpus(PTB, text=TextConfig(tokenizer="whitespace"))
    assert c.name == "ptb"
    assert {f.split for f in c.files} == {"train", "valid", "test"}
    first = next(iter(c.sentences("test")))
    assert first[:3] == ["no", "it", "was"]
