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
hash of the record's raw line (blake2b, salted by ``splits.seed``): the same line always lands
in the same split, on every machine and run. A single text file given as the corpus is always
hash-split, so it has held-out data.

Text models. ``lines()``/``sentences()`` yield the running text *and* the text side of the
labelled records and of every dialogue turn (SPEC §2: it "also feeds the text models"), each in
its own split; ``corpus.toml`` may narrow this with ``text_sources = ["text"]``
(any of ``"text"``, ``"labeled"``, ``"dialogs"``).

Every stream is a restartable iterable: each ``iter()`` re-opens the files, so several passes
cost no memory, and nothing is read until iterated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from nlpsvc.text import TextConfig, Tokenizer
from nlpsvc.textio import TextFileError, read_lines, strip_compression

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


class CorpusError(TextFileError):
    """Unreadable or malformed corpus data; the message names the file (and line)."""


@dataclass(frozen=True)
class CorpusFile:
    """One data file: where it is, what it holds and which split it is (None: hash-split)."""

    path: Path
    source: str  # "text" | "labeled" | "dialogs"
    format: str  # "txt" | "tsv" | "ft" | "jsonl" | "dailydialog"
    split: str | None


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
        digest = hashlib.blake2b(line.encode("utf-8", "surrogatepass"), digest_size=8,
                                 key=self._salt[:64]).digest()
        u = int.from_bytes(digest, "big") / 2.0**64
        if u < self._valid_frac:
            return "valid"
        if u < self._valid_frac + self._test_frac:
            return "test"
        return "train"

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

    def _bad(self, cf: CorpusFile, lineno: int, what: str) -> None:
        msg = f"{cf.path}:{lineno}: {what}"
        if self.errors == "strict":
            raise CorpusError(msg)
        log.warning("skipped %s", msg)

    # -- record parsers -------------------------------------------------------------------------

    def _iter_text(self, split: str) -> Iterator[str]:
        for cf in self._files("text"):
            for _, line in self._records(cf, split):
                yield line.strip()

    def _iter_labeled(self, split: str) -> Iterator[tuple[list[str], str]]:
        for cf in self._files("labeled"):
            for lineno, line in self._records(cf, split):
                if cf.format == "tsv":
                    label, tab, text = line.partition("\t")
                    if not tab or not label.strip() or not text.strip():
                        self._bad(cf, lineno, "expected 'label<TAB>text'")
                        continue
                    yield [label.strip()], text.strip()
                else:
                    words = line.split()
                    labels = []
                    while words and words[0].startswith("__label__"):
                        labels.append(words.pop(0)[len("__label__"):])
                    if not labels or not words:
                        self._bad(cf, lineno, "expected '__label__x text'")
                        continue
                    yield labels, " ".join(words)

    def _iter_dialogs(self, split: str) -> Iterator[list[str]]:
        for cf in self._files("dialogs"):
            for lineno, line in self._records(cf, split):
                turns: list[str] | None
                if cf.format == "tsv":
                    prompt, tab, reply = line.partition("\t")
                    turns = [prompt.strip(), reply.strip()] if tab else None
                    what = "expected 'prompt<TAB>reply'"
                elif cf.format == "jsonl":
                    turns, what = _jsonl_turns(line), 'expected {"turns": ["...", "..."]}'
                else:  # dailydialog
                    turns = [t.strip() for t in line.split("__eou__") if t.strip()]
                    what = "expected turns separated by __eou__"
                if not turns or len(turns) < 2 or not all(turns):
                    self._bad(cf, lineno, what)
                    continue
                yield turns

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


def _jsonl_turns(line: str) -> list[str] | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    turns = obj.get("turns") if isinstance(obj, dict) else None
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        return None
    return [t.strip() for t in turns]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


def open_corpus(
    path: str | Path, text: TextConfig | None = None, errors: str = "strict"
) -> Corpus:
    """Open a corpus folder or a single running-text file.

    ``text`` overrides the tokenizer settings of corpus.toml; ``errors="replace"`` reads bad
    UTF-8 bytes as U+FFFD and skips malformed records with a warning instead of failing.
    """
    return Corpus(path, text=text, errors=errors)


__all__ = [
    "Corpus", "CorpusError", "CorpusFile", "SPLITS", "Stream", "classify_file", "open_corpus",
    "read_lines", "split_of_name",
]
