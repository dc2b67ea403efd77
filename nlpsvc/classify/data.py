"""Labelled examples: cleaning, checks, deterministic splits and a reader for one labelled file.

Training reads through the corpus interface (``corpus.labeled(split)``); ``read_labeled_file`` is
for ``nlpsvc eval --kind classifier --input FILE`` on any ``label<TAB>text`` or fastText ``.ft``
file. Both go through ``clean``, so bad lines are handled the same way everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from corpora.records import hash_fraction, parse_line
from nlpsvc.textio import read_lines, strip_compression

_WS = re.compile(r"\s+")


class ClassifierDataError(ValueError):
    """Labelled data the classifier cannot be trained or evaluated on."""


@dataclass
class Examples:
    """Cleaned labelled texts; ``skipped`` counts lines without a label or without text."""

    texts: list[str] = field(default_factory=list)
    labels: list[list[str]] = field(default_factory=list)
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def multilabel(self) -> bool:
        return any(len(ls) > 1 for ls in self.labels)

    def classes(self) -> list[str]:
        return sorted({label for ls in self.labels for label in ls})


def normalize_label(label: str) -> str:
    """Strip and collapse inner whitespace (tabs, runs of spaces) to one space: 'sci  fi' ->
    'sci fi'. Labels may contain spaces; they are kept, they only must not be empty."""
    return _WS.sub(" ", label).strip()


def clean(pairs: Iterable[tuple[list[str], str]]) -> Examples:
    """Keep lines with at least one non-empty label and non-blank text; count the others."""
    out = Examples()
    for labels, text in pairs:
        labels = [normalize_label(lb) for lb in labels]
        labels = list(dict.fromkeys(lb for lb in labels if lb))  # de-duplicated, order kept
        if not labels or not text or not text.strip():
            out.skipped += 1
            continue
        out.texts.append(text)
        out.labels.append(labels)
    return out


def check_trainable(train: Examples, where: str = "training data") -> list[str]:
    """The sorted class names, or a clear error when nothing or only one class is left."""
    if not len(train):
        raise ClassifierDataError(
            f"{where}: no usable labelled line ({train.skipped} skipped: missing label or text)"
        )
    classes = train.classes()
    if len(classes) < 2:
        raise ClassifierDataError(
            f"{where}: only one class ({classes[0]!r}) in {len(train)} lines; "
            "a classifier needs at least two"
        )
    return classes


def check_known(examples: Examples, classes: list[str], where: str) -> None:
    """Evaluation labels must all have been seen in training; name the ones that were not."""
    known = set(classes)
    unseen = sorted({lb for ls in examples.labels for lb in ls} - known)
    if unseen:
        shown = ", ".join(repr(u) for u in unseen[:10]) + (" …" if len(unseen) > 10 else "")
        raise ClassifierDataError(
            f"{where}: label(s) never seen in training: {shown}; the model knows "
            f"{len(classes)} classes: {', '.join(classes[:20])}{' …' if len(classes) > 20 else ''}"
        )


def split_off(examples: Examples, fraction: float, salt: str) -> tuple[Examples, Examples]:
    """Deterministically move about ``fraction`` of the lines to a second set (by line hash)."""
    keep, out = Examples(skipped=examples.skipped), Examples()
    for text, labels in zip(examples.texts, examples.labels, strict=True):
        target = out if hash_fraction(salt + "\x00" + text) < fraction else keep
        target.texts.append(text)
        target.labels.append(labels)
    return keep, out


def read_labeled_file(path: str | Path, errors: str = "strict") -> Examples:
    """Read one labelled file (``.tsv`` or ``.ft``, optionally compressed), cleaned.

    A bad UTF-8 byte is an error naming file and line (``TextFileError``) unless ``errors`` is
    ``"replace"``; a line without label or text is skipped and counted.
    """
    path = Path(path)
    if not path.is_file():
        raise ClassifierDataError(f"{path}: no such file")
    base, _ = strip_compression(path.name)
    fasttext_format = base.endswith(".ft")
    return clean(parse_line(line, fasttext_format)
                 for _, line in read_lines(path, errors) if line.strip())
