"""Corpus readers (SPEC §2): a folder (or one text file) as restartable streams of records.

What a folder may hold (plain, ``.gz``, ``.bz2`` or ``.xz``; UTF-8), found recursively, hidden
files and ``README*``/``LICENSE*`` files skipped:

* ``*.txt`` — running text, one sentence or paragraph a line;
* ``labeled*.tsv`` (``label<TAB>text``) and ``*.ft`` (``__label__x __label__y text``);
* ``dialogs*.tsv`` (``prompt<TAB>reply``, a 2-turn dialogue), ``dialogs*.jsonl``
  (``{"turns": [...]}``) and DailyDialog's ``dialogues_{train,validation,test}.txt`` (turns split
  by ``__eou__``; its ``dialogues_act_*``/``dialogues_emotion_*`` files are ignored);
* ``corpus.toml`` (optional): ``name``, ``[text]`` (``tokenizer``, ``lowercase``; also accepted at
  top level), ``[splits]`` (``valid``/``test`` fractions and a ``seed`` for hash splits),
  ``text_sources`` and per-model tables (``[ngram]``, ``[embeddings]``, ...).

Splits. A file whose name contains ``train``, ``valid``/``dev`` or ``test`` (at the start of a
word: ``ptb.train.txt``, ``labeled.test.tsv``, ``dialogues_validation.txt``, ``training.txt``,
but not ``contest.txt``) is wholly that split. Records of other files are split by a stable
hash of the record's raw line (``corpora.records.hash_split``: blake2b, keyed by
``splits.seed``): the same line always lands in the same split, on every machine and run. A
single text file given as the corpus is always hash-split, so it has held-out data.

Text models. ``lines()``/``sentences()`` yield the running text *and* the text side of the
labelled records and of every dialogue turn (SPEC §2: it "also feeds the text models"), each in
its own split; ``corpus.toml`` may narrow this with ``text_sources = ["text"]``
(any of ``"text"``, ``"labeled"``, ``"dialogs"``).

Every stream is a restartable iterable: each ``iter()`` re-opens the files, so several passes
cost no memory, and nothing is read until iterated.

Bad records (issues 5 and 6). A labelled line without a label or a text, a dialogue line that
is not a dialogue, a dialogue left with fewer than two non-empty turns: each is skipped, logged
(the first few of a pass, with file and line) and counted in ``corpus.skipped`` by source,
split and reason (``LABELED_REASONS``, ``DIALOG_REASONS``); empty turns are dropped from their
dialogue and counted too. That is not an error, whatever ``errors`` is: what counts as "nothing
left" depends on the consumer (a classifier needs two classes in train, a chatbot one pair), so
the consumer raises it, quoting ``corpus.skipped``. A bad UTF-8 byte stays an error naming the
file and line unless ``errors="replace"`` (SPEC §2).
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from corpora.records import hash_split, parse_labeled
from nlpsvc.text import TextConfig, Tokenizer
from nlpsvc.textio import TextFileError, parse_dialog_line, read_lines, strip_compression

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
SOURCES = ("text", "labeled", "dialogs")
DEFAULT_SPLITS = {"valid": 0.05, "test": 0.05, "seed": "nlpsvc"}

# A split word at the start of a word of the file name (train, training, dev, valid, validation).
_SPLIT_RE = re.compile(r"(?<![a-z])(train|valid|dev|test)", re.I)
_SPLIT_NAMES = {"train": "train", "valid": "valid", "dev": "valid", "test": "test"}
_SKIP_RE = re.compile(r"^(readme|licen[cs]e|copying|notice)", re.I)
_DAILYDIALOG_RE = re.compile(r"^dialogues_(train|validation|test)$", re.I)
_DAILYDIALOG_EXTRA_RE = re.compile(r"^dialogues_(act|emotion)_", re.I)

# Why a record is skipped. "empty_turns" counts turns dropped from a dialogue (the dialogue itself
# is kept when two turns are left), the others count skipped records.
LABELED_REASONS = ("malformed", "missing_label", "missing_text")
DIALOG_REASONS = ("malformed", "single_turn", "empty_turns")
_REASONS = {"labeled": LABELED_REASONS, "dialogs": DIALOG_REASONS}
_LOGGED_PER_PASS = 5  # detailed warnings per pass; the counts hold the rest


class CorpusError(TextFileError):
    """Unreadable or malformed corpus data; the message names the file (and line)."""


@dataclass(frozen=True)
class CorpusFile:
    """One data file: where it is, what it holds and which split it is (None: hash-split)."""

    path: Path
    source: str  # "text" | "labeled" | "dialogs"
    format: str  # "txt" | "tsv" | "ft" | "jsonl" | "dailydialog"
    split: str | None


class SkipStats:
    """Records the readers skipped, by source ("labeled", "dialogs"), split and reason.

    Each pass over one source's split restarts that split's counts, so the figures are those of
    the latest pass of each split: reading train for ten epochs does not count its bad lines ten
    times, and a fresh pass after the files changed recounts them.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], Counter[str]] = {}

    def start(self, source: str, split: str) -> Counter[str]:
        """A fresh counter for a pass over ``source``'s ``split`` (replaces the last pass's)."""
        counts: Counter[str] = Counter()
        self._counts[(source, split)] = counts
        return counts

    def get(self, source: str, split: str | None = None) -> dict[str, int]:
        """Counts by reason for one split, or summed over the splits read so far (zeros kept)."""
        out = dict.fromkeys(_REASONS[source], 0)
        for (src, sp), counts in self._counts.items():
            if src == source and split in (None, sp):
                for reason, n in counts.items():
                    out[reason] += n
        return out

    def records(self, source: str, split: str | None = None) -> int:
        """Records skipped (empty turns are not records: their dialogue may have been kept)."""
        return sum(n for reason, n in self.get(source, split).items() if reason != "empty_turns")

    def as_dict(self) -> dict[str, dict[str, int]]:
        """``{"labeled": {reason: n}, "dialogs": {reason: n}}`` over the splits read so far."""
        return {source: self.get(source) for source in _REASONS}

    def summary(self, source: str, split: str | None = None) -> str:
        """'3 skipped (malformed 1, missing_text 2)' for error messages and logs."""
        counts = self.get(source, split)
        detail = ", ".join(f"{r} {n}" for r, n in counts.items() if n)
        return f"{self.records(source, split)} skipped" + (f" ({detail})" if detail else "")

    def __repr__(self) -> str:
        return f"SkipStats({self.as_dict()})"


class Stream:
    """A restartable iterable: every ``iter()`` calls ``factory()`` afresh (re-opening files)."""

    def __init__(self, factory: Callable[[], Iterator[Any]], description: str = "") -> None:
        self._factory = factory
        self.description = description

    def __iter__(self) -> Iterator[Any]:
        return self._factory()

    def __repr__(self) -> str:
        return f"Stream({self.description})"


def split_of_name(name: str) -> str | None:
    """The split a file name declares (``ptb.valid.txt`` -> "valid"), or None."""
    m = _SPLIT_RE.search(name)
    return _SPLIT_NAMES[m.group(1).lower()] if m else None


def classify_file(path: Path) -> CorpusFile | None:
    """What a file in a corpus folder is, or None for files that are not corpus data."""
    base, _ = strip_compression(path.name)
    stem, dot, ext = base.rpartition(".")
    if not dot or _SKIP_RE.match(base) or base.startswith("."):
        return None
    ext, lower = ext.lower(), stem.lower()
    if ext == "txt":
        if _DAILYDIALOG_EXTRA_RE.match(lower):
            return None
        if m := _DAILYDIALOG_RE.match(lower):
            return CorpusFile(path, "dialogs", "dailydialog", split_of_name(m.group(1)))
        return CorpusFile(path, "text", "txt", split_of_name(stem))
    if ext == "tsv" and lower.startswith("labeled"):
        return CorpusFile(path, "labeled", "tsv", split_of_name(stem[7:]))
    if ext == "ft":
        return CorpusFile(path, "labeled", "ft", split_of_name(stem))
    if ext in ("tsv", "jsonl") and lower.startswith("dialogs"):
        return CorpusFile(path, "dialogs", ext, split_of_name(stem[7:]))
    return None


class Corpus:
    """A corpus folder (or one text file) and its settings; see the module docstring.

    Records are streamed, never held: ``lines``, ``sentences``, ``labeled``, ``dialogs`` and
    ``pairs`` return restartable iterables for one split ("train", "valid" or "test").
    """

    def __init__(
        self, path: str | Path, text: TextConfig | None = None, errors: str = "strict"
    ) -> None:
        self.path = Path(path)
        if errors not in ("strict", "replace"):
            raise ValueError(f"errors must be 'strict' or 'replace', not {errors!r}")
        self.errors = errors
        if not self.path.exists():
            raise CorpusError(f"{self.path}: no such corpus file or folder")
        self.settings: dict[str, Any] = self._read_settings()
        self.name: str = str(self.settings.get("name") or self._default_name())
        self.text_config: TextConfig = text or TextConfig.from_dict(self._text_settings())
        self.tokenizer = Tokenizer(self.text_config)
        splits = {**DEFAULT_SPLITS, **(self.settings.get("splits") or {})}
        self._valid_frac = float(splits["valid"])
        self._test_frac = float(splits["test"])
        if not (0 <= self._valid_frac and 0 <= self._test_frac
                and self._valid_frac + self._test_frac < 1):
            raise CorpusError(f"{self.path}: splits.valid + splits.test must be in [0, 1)")
        self._salt = str(splits["seed"]).encode()
        sources = self.settings.get("text_sources", list(SOURCES))
        if not isinstance(sources, list) or not set(sources) <= set(SOURCES):
            raise CorpusError(f"{self.path}: text_sources must be a list of {', '.join(SOURCES)}")
        self.text_sources: tuple[str, ...] = tuple(sources)
        self.skipped = SkipStats()

    # -- discovery ------------------------------------------------------------------------------

    def _read_settings(self) -> dict[str, Any]:
        toml = self.path / "corpus.toml" if self.path.is_dir() else None
        if toml is None or not toml.is_file():
            return {}
        try:
            with open(toml, "rb") as f:
                return tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise CorpusError(f"{toml}: invalid TOML ({e})") from e

    def _default_name(self) -> str:
        if self.path.is_dir():
            return self.path.resolve().name
        base, _ = strip_compression(self.path.name)
        return base.rsplit(".", 1)[0] if "." in base else base

    def _text_settings(self) -> dict[str, Any]:
        out = {k: self.settings[k] for k in ("tokenizer", "lowercase") if k in self.settings}
        out.update(self.settings.get("text") or {})
        return out

    def config(self) -> dict[str, Any]:
        """The corpus.toml tables that are training config (``text``, ``ngram``, ...)."""
        tree = {k: v for k, v in self.settings.items() if isinstance(v, dict) and k != "splits"}
        text = self._text_settings()
        if text:
            tree["text"] = text
        return tree

    @cached_property
    def files(self) -> list[CorpusFile]:
        """The data files, in a stable (sorted) order."""
        if self.path.is_file():
            return [CorpusFile(self.path, "text", "txt", None)]
        found = []
        for p in sorted(self.path.rglob("*")):
            rel = p.relative_to(self.path)
            if any(part.startswith(".") for part in rel.parts) or not p.is_file():
                continue
            if (cf := classify_file(p)) is not None:
                found.append(cf)
        return found

    def _files(self, source: str) -> list[CorpusFile]:
        return [f for f in self.files if f.source == source]

    @property
    def has_text(self) -> bool:
        """Any text for the text models (running text, or the text side of the other files)."""
        return any(f.source in self.text_sources for f in self.files)

    @property
    def has_labeled(self) -> bool:
        return bool(self._files("labeled"))

    @property
    def has_dialogs(self) -> bool:
        return bool(self._files("dialogs"))

    def sha256(self) -> str:
        """Hash of every data file's bytes (as stored) and of corpus.toml, streamed."""
        if hasattr(self, "_sha256"):
            return self._sha256
        h = hashlib.sha256()
        paths = [f.path for f in self.files]
        if self.path.is_dir() and (self.path / "corpus.toml").is_file():
            paths.append(self.path / "corpus.toml")
        for p in sorted(paths):
            rel = p.name if self.path.is_file() else p.relative_to(self.path).as_posix()
            h.update(rel.encode() + b"\0")
            with open(p, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
            h.update(b"\0")
        self._sha256: str = h.hexdigest()
        return self._sha256

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "files": [
                {"path": str(f.path), "source": f.source, "format": f.format, "split": f.split}
                for f in self.files
            ],
            "text": self.text_config.to_dict(),
        }

    # -- splits ---------------------------------------------------------------------------------

    def hash_split(self, line: str) -> str:
        """The split of a record from an un-split file: a stable hash of its raw line."""
        return hash_split(line, self._valid_frac, self._test_frac, self._salt)

    def _records(self, cf: CorpusFile, split: str) -> Iterator[tuple[int, str]]:
        """Non-blank raw lines of ``cf`` that belong to ``split``."""
        _check_split(split)
        if cf.split is not None and cf.split != split:
            return
        try:
            for lineno, line in read_lines(cf.path, self.errors):
                if not line.strip():
                    continue
                if cf.split is None and self.hash_split(line) != split:
                    continue
                yield lineno, line
        except TextFileError as e:
            if isinstance(e, CorpusError):
                raise
            raise CorpusError(str(e)) from None

    def _skip(self, counts: Counter[str], cf: CorpusFile, lineno: int, reason: str,
              what: str) -> None:
        """Count a skipped record; warn (with file and line) for the first few of a pass."""
        counts[reason] += 1
        n = sum(v for r, v in counts.items() if r != "empty_turns")
        if n <= _LOGGED_PER_PASS:
            more = "; further ones are counted, not logged" if n == _LOGGED_PER_PASS else ""
            log.warning("%s:%d: %s skipped (%s)%s", cf.path, lineno, reason, what, more)

    # -- record parsers -------------------------------------------------------------------------

    def _iter_text(self, split: str) -> Iterator[str]:
        for cf in self._files("text"):
            for _, line in self._records(cf, split):
                yield line.strip()

    def _iter_labeled(self, split: str) -> Iterator[tuple[list[str], str]]:
        counts = self.skipped.start("labeled", split)
        for cf in self._files("labeled"):
            for lineno, line in self._records(cf, split):
                labels, text, what = _parse_labeled(cf.format, line)
                if labels is None:
                    self._skip(counts, cf, lineno, "malformed", what)
                elif not labels:
                    self._skip(counts, cf, lineno, "missing_label", what)
                elif not text:
                    self._skip(counts, cf, lineno, "missing_text", what)
                else:
                    yield labels, text

    def _iter_dialogs(self, split: str) -> Iterator[list[str]]:
        counts = self.skipped.start("dialogs", split)
        for cf in self._files("dialogs"):
            for lineno, line in self._records(cf, split):
                turns, what = _parse_dialog(cf.format, line)
                if turns is None:
                    self._skip(counts, cf, lineno, "malformed", what)
                    continue
                kept = [t for t in turns if t]
                if len(kept) < len(turns):
                    counts["empty_turns"] += len(turns) - len(kept)
                if len(kept) < 2:
                    self._skip(counts, cf, lineno, "single_turn",
                               "a dialogue needs two non-empty turns")
                    continue
                yield kept

    # -- public streams -------------------------------------------------------------------------

    def lines(self, split: str = "train", sources: Iterable[str] | None = None) -> Stream:
        """Text lines for the text models: running text, then labelled texts, then turns."""
        _check_split(split)
        chosen = tuple(sources) if sources is not None else self.text_sources

        def gen() -> Iterator[str]:
            if "text" in chosen:
                yield from self._iter_text(split)
            if "labeled" in chosen:
                for _, text in self._iter_labeled(split):
                    yield text
            if "dialogs" in chosen:
                for turns in self._iter_dialogs(split):
                    yield from turns

        return Stream(gen, f"{self.name} lines {split}")

    def sentences(self, split: str = "train", sources: Iterable[str] | None = None) -> Stream:
        """Token lists of ``lines(split)`` via the corpus tokenizer (empty ones skipped)."""
        lines = self.lines(split, sources)
        tok = self.tokenizer

        def gen() -> Iterator[list[str]]:
            for line in lines:
                if tokens := tok(line):
                    yield tokens

        return Stream(gen, f"{self.name} sentences {split}")

    def labeled(self, split: str = "train") -> Stream:
        """``(labels, text)`` records of the labelled files."""
        _check_split(split)
        return Stream(lambda: self._iter_labeled(split), f"{self.name} labeled {split}")

    def dialogs(self, split: str = "train") -> Stream:
        """Dialogues as lists of turn strings (a TSV pair is a 2-turn dialogue)."""
        _check_split(split)
        return Stream(lambda: self._iter_dialogs(split), f"{self.name} dialogs {split}")

    def pairs(self, split: str = "train") -> Stream:
        """``(prompt, reply)`` for each pair of consecutive turns of every dialogue."""
        dialogs = self.dialogs(split)

        def gen() -> Iterator[tuple[str, str]]:
            for turns in dialogs:
                yield from zip(turns, turns[1:], strict=False)

        return Stream(gen, f"{self.name} pairs {split}")

    def __repr__(self) -> str:
        return f"Corpus({self.name!r}, {str(self.path)!r}, {len(self.files)} files)"


def _parse_labeled(fmt: str, line: str) -> tuple[list[str] | None, str, str]:
    """(non-blank labels, stripped text, expected form) of one labelled line; labels None when
    malformed."""
    parsed = parse_labeled(line, fmt)
    if parsed is None:
        return None, "", "expected 'label<TAB>text'"
    labels, text = parsed
    expected = "'label<TAB>text'" if fmt == "tsv" else "'__label__x text'"
    return [lb.strip() for lb in labels if lb.strip()], text.strip(), expected


def _parse_dialog(fmt: str, line: str) -> tuple[list[str] | None, str]:
    """(stripped turns, empty ones kept, or None when malformed; expected form) of one line."""
    expected = {"tsv": "'prompt<TAB>reply'", "jsonl": '{"turns": ["...", "..."]}'}
    return parse_dialog_line(fmt, line), expected.get(fmt, "turns separated by __eou__")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


def open_corpus(
    path: str | Path, text: TextConfig | None = None, errors: str = "strict"
) -> Corpus:
    """Open a corpus folder or a single running-text file.

    ``text`` overrides the tokenizer settings of corpus.toml; ``errors="replace"`` reads bad
    UTF-8 bytes as U+FFFD instead of failing. Malformed records are skipped and counted in
    ``corpus.skipped`` in either mode.
    """
    return Corpus(path, text=text, errors=errors)


__all__ = [
    "DIALOG_REASONS", "LABELED_REASONS", "SPLITS", "Corpus", "CorpusError", "CorpusFile",
    "SkipStats", "Stream", "classify_file", "open_corpus", "read_lines", "split_of_name",
]
