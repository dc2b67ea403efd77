"""One labelled-line parser and one hash split (corpora.records), for every reader.

The oracles are the two copies they replace, as they were: the corpus reader's and the
classifier's labelled-line parsers, and the reader's and the classifier's blake2b fractions.
Every user must give the same answers as before, on any line.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from corpora import readers
from corpora.records import hash_fraction, hash_split, parse_labeled, parse_line
from nlpsvc.classify import data as classify_data

ROOT = Path(__file__).resolve().parents[2]

# -- the copies they replace (commit d841d51), verbatim but for their names -----------------------


def old_reader_parse(fmt: str, line: str) -> tuple[list[str] | None, str, str]:
    if fmt == "tsv":
        label, tab, text = line.partition("\t")
        if not tab:
            return None, "", "expected 'label<TAB>text'"
        return ([label.strip()] if label.strip() else []), text.strip(), "'label<TAB>text'"
    words = line.split()
    labels = []
    while words and words[0].startswith("__label__"):
        if label := words.pop(0)[len("__label__"):]:
            labels.append(label)
    return labels, " ".join(words), "'__label__x text'"


def old_classify_parse(line: str, fasttext_format: bool) -> tuple[list[str], str]:
    line = line.rstrip("\r\n")
    if fasttext_format:
        labels, words = [], line.split()
        i = 0
        while i < len(words) and words[i].startswith("__label__"):
            labels.append(words[i][len("__label__"):])
            i += 1
        return labels, " ".join(words[i:])
    label, sep, text = line.partition("\t")
    return ([label] if sep else []), text


def old_reader_fraction(line: str, salt: bytes) -> float:
    digest = hashlib.blake2b(line.encode("utf-8", "surrogatepass"), digest_size=8,
                             key=salt[:64]).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def old_classify_fraction(text: str) -> float:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


# -----------------------------------------------------------------------------------------------

PIECES = ["__label__", "__label__a", "__label__sci fi", "\t", " ", "  ", "a", "B c", "\u00e9",
          "label", "__lab", "\r", "\x0b", "\u3000", "x\ty", ""]
lines = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=8).map("".join)


def reader_line(line: str) -> str:
    return line.rstrip("\r\n")  # read_lines hands the reader lines without their ending


@settings(max_examples=400, deadline=None)
@given(lines)
def test_labelled_lines_parse_as_both_old_parsers_did(line: str) -> None:
    for fmt in ("tsv", "ft"):
        assert readers._parse_labeled(fmt, reader_line(line)) == old_reader_parse(
            fmt, reader_line(line))
        assert parse_line(line, fmt == "ft") == old_classify_parse(line, fmt == "ft")
    assert classify_data.parse_line is parse_line


def test_labelled_line_examples() -> None:
    assert parse_labeled("sci fi\tA story .\n", "tsv") == (["sci fi"], "A story .")
    assert parse_labeled("no tab", "tsv") is None
    assert parse_labeled("__label__a __label__ b  c", "ft") == (["a", ""], "b c")
    assert readers._parse_labeled("ft", "__label__a __label__ b  c") == (
        ["a"], "b c", "'__label__x text'")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40), st.binary(max_size=80))
def test_the_hash_split_is_the_old_one(line: str, salt: bytes) -> None:
    assert hash_fraction(line, salt) == old_reader_fraction(line, salt)
    try:
        old = old_classify_fraction(line)
    except UnicodeEncodeError:  # a lone surrogate: the classifier's copy failed on it
        old = None
    if old is not None:
        assert hash_fraction(line) == old
    assert classify_data.hash_fraction is hash_fraction
    u = old_reader_fraction(line, salt)
    assert hash_split(line, 0.1, 0.2, salt) == (
        "valid" if u < 0.1 else "test" if u < 0.1 + 0.2 else "train")


def test_no_other_module_hashes_or_parses_labelled_lines() -> None:
    """blake2b and the ``"__label__"`` prefix appear in code only in corpora/records.py."""
    pattern = re.compile(r"blake2b|[\"']__label__[\"']")
    offenders = []
    for folder in ("nlpsvc", "pipelines", "corpora"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "records.py" and path.parent.name == "corpora":
                continue
            for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = text.split("#")[0]
                if pattern.search(code) and "``" not in code:  # docstrings quote the format
                    offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert offenders == []
