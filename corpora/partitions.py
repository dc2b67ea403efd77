"""A corpus split's text as partitions a worker can read on its own (Dask n-gram counting).

``text_parts(corpus, split)`` cuts every file that feeds ``corpus.sentences(split)`` into byte
ranges on line boundaries (a compressed file is one range: it cannot be entered mid-way), in
the order ``Corpus.lines`` reads them: running text, then labelled texts, then dialogue turns,
each by file in the corpus's order. ``part_sentences(part)`` yields a range's sentences with
the corpus's own parsing, hash split and tokenizer (it reopens the corpus by path, so the
folder must be readable where it runs), so the concatenation of the parts' sentences, in
order, is ``corpus.sentences(split)`` exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from corpora.readers import SOURCES, Corpus, CorpusError, CorpusFile
from nlpsvc.text import TextConfig
from nlpsvc.textio import open_binary, strip_compression

DEFAULT_PART_BYTES = 64 << 20  # the most a partition holds
MIN_PART_BYTES = 1 << 20  # below this, a task's overhead outweighs its work


@dataclass(frozen=True)
class TextPart:
    """Bytes ``start..end`` (``end`` None: to the end) of one corpus file, and how to read it."""

    corpus: str  # the corpus path (file or folder)
    text: tuple[tuple[str, Any], ...]  # the TextConfig the pipeline tokenizes with
    errors: str
    split: str
    file: str
    source: str
    format: str
    file_split: str | None
    start: int
    end: int | None


def text_parts(corpus: Corpus, split: str = "train",
               part_bytes: int = DEFAULT_PART_BYTES) -> list[TextPart]:
    """The partitions of ``corpus.sentences(split)``, in reading order."""
    text = tuple(sorted(corpus.text_config.to_dict().items()))
    parts = []
    for source in SOURCES:
        if source not in corpus.text_sources:
            continue
        for cf in corpus.files:
            if cf.source != source or (cf.split is not None and cf.split != split):
                continue
            for start, end in _ranges(cf.path, part_bytes):
                parts.append(TextPart(str(corpus.path), text, corpus.errors, split, str(cf.path),
                                      cf.source, cf.format, cf.split, start, end))
    return parts


def balanced_part_bytes(corpus: Corpus, split: str, workers: int, per_worker: int = 4) -> int:
    """A partition size giving each of ``workers`` about ``per_worker`` partitions (so a slow
    or restarted worker delays the job by a fraction of its share), within
    ``MIN_PART_BYTES .. DEFAULT_PART_BYTES``."""
    total = sum(cf.path.stat().st_size for cf in corpus.files
                if cf.source in corpus.text_sources and cf.split in (None, split))
    share = total // max(1, workers * per_worker)
    return int(min(DEFAULT_PART_BYTES, max(MIN_PART_BYTES, share)))


def _ranges(path: Path, part_bytes: int) -> list[tuple[int, int | None]]:
    """Line-aligned byte ranges of about ``part_bytes`` (one range for a compressed file)."""
    if strip_compression(path.name)[1]:
        return [(0, None)]
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as f:
        while cuts[-1] + part_bytes < size:
            f.seek(cuts[-1] + part_bytes)
            f.readline()  # to the end of the line the target falls in
            if f.tell() >= size:
                break
            cuts.append(f.tell())
    return [(a, b) for a, b in zip(cuts, [*cuts[1:], None], strict=True)]


def part_sentences(part: TextPart) -> Iterator[list[str]]:
    """The sentences of one partition, as ``Corpus.sentences`` yields them."""
    corpus = _PartCorpus(part)
    yield from corpus.sentences(part.split)


class _PartCorpus(Corpus):
    """The corpus restricted to one byte range of one of its files."""

    def __init__(self, part: TextPart) -> None:
        super().__init__(part.corpus, text=TextConfig.from_dict(dict(part.text)),
                         errors=part.errors)
        self.part = part

    @cached_property
    def files(self) -> list[CorpusFile]:
        p = self.part
        return [CorpusFile(Path(p.file), p.source, p.format, p.file_split)]

    def _records(self, cf: CorpusFile, split: str) -> Iterator[tuple[int, str]]:
        """``Corpus._records`` over the range; line numbers are counted from its start."""
        if cf.split is not None and cf.split != split:
            return
        start, end = self.part.start, self.part.end
        with open_binary(cf.path) as f:
            if start:
                f.seek(start)
            pos = start
            for lineno, raw in enumerate(f, 1):
                if end is not None and pos >= end:
                    break
                try:
                    line = raw.decode("utf-8-sig" if pos == 0 else "utf-8", self.errors)
                except UnicodeDecodeError as e:
                    raise CorpusError(
                        f"{cf.path}: invalid UTF-8 at byte {pos + e.start} (fix the file, or "
                        "read it with --errors replace)") from None
                pos += len(raw)
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                if cf.split is None and self.hash_split(line) != split:
                    continue
                yield lineno, line
