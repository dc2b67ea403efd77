"""The one labelled-line parser and the one hash split, for every reader of corpus data.

The corpus reader (``corpora.readers``), ``nlpsvc eval --kind classifier`` on a single file
(``nlpsvc.classify.data``) and the classifier's held-out carve all read labelled lines and
split records through these functions, so a line parses, and lands in a split, the same way
everywhere.
"""

from __future__ import annotations

import hashlib

FT_PREFIX = "__label__"
LABELED_FORMATS = ("tsv", "ft")


def parse_labeled(line: str, fmt: str) -> tuple[list[str], str] | None:
    """The labels and text of one labelled line, as written; None for a ``tsv`` line without
    a tab (malformed).

    ``tsv``: ``label<TAB>text``, one label (it may be blank) and the text as it stands; ``ft``:
    fastText's ``__label__a __label__b text``, the leading ``__label__`` words' names (they
    may be empty) and the other words joined by single spaces. Callers decide what a blank
    label or text means (the corpus reader skips and counts the line).
    """
    line = line.rstrip("\r\n")
    if fmt == "ft":
        words = line.split()
        n = 0
        while n < len(words) and words[n].startswith(FT_PREFIX):
            n += 1
        return [w[len(FT_PREFIX):] for w in words[:n]], " ".join(words[n:])
    if fmt != "tsv":
        raise ValueError(f"unknown labelled format {fmt!r}; expected one of "
                         f"{', '.join(LABELED_FORMATS)}")
    label, tab, text = line.partition("\t")
    return ([label], text) if tab else None


def parse_line(line: str, fasttext_format: bool) -> tuple[list[str], str]:
    """``parse_labeled`` where a ``tsv`` line without a tab is one without label or text."""
    return parse_labeled(line, "ft" if fasttext_format else "tsv") or ([], "")


def hash_fraction(text: str, key: bytes = b"") -> float:
    """A stable number in [0, 1) from ``text`` (blake2b, keyed by up to 64 bytes of ``key``):
    the same text always gives the same number, on every machine and run."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8,
                             key=key[:64]).digest()
    return int.from_bytes(digest, "big") / 2**64


def hash_split(line: str, valid: float, test: float, key: bytes = b"") -> str:
    """The split of a record of an un-split file: ``valid`` for a ``valid`` fraction of the
    lines, ``test`` for the next ``test`` fraction, else ``train`` (by ``hash_fraction``)."""
    u = hash_fraction(line, key)
    if u < valid:
        return "valid"
    if u < valid + test:
        return "test"
    return "train"
