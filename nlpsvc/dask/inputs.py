"""An input file or fsspec URL split into byte-range partitions on record boundaries.

Partitions hold a whole number of ``--chunk-size`` chunks, so every record is scored in the
same chunk as with ``--jobs 1`` (a model that batches, such as the LSTM, gives bit-identical
results only for identical batches). The client finds the boundaries in one streamed pass
(newlines counted with numpy; CSV/TSV parsed, since a quoted field may span lines); workers
then seek to their range. Compressed inputs (``.gz``, ``.bz2``, ``.xz``) are ranges of the
decompressed stream: a worker decompresses up to its start, which costs CPU but no network.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from nlpsvc.batch import BatchError, _format_of, column_index

SCAN_BLOCK = 1 << 22


@dataclass(frozen=True)
class Part:
    """One partition: bytes ``start..end`` of the (decompressed) input, ``records`` records."""

    index: int
    start: int
    end: int
    records: int


@dataclass(frozen=True)
class InputPlan:
    """The partitions of one input and what identifies it (for ``--resume``)."""

    url: str
    fmt: str
    header_end: int  # CSV/TSV: the header row is bytes 0..header_end; else 0
    parts: tuple[Part, ...]
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(p.records for p in self.parts)


def _fsspec_open(url: str) -> Any:
    """An ``fsspec.OpenFile`` for ``url``, or the error naming the package a scheme needs."""
    import fsspec
    from fsspec.registry import known_implementations
    from fsspec.utils import get_protocol

    protocol = get_protocol(url)
    try:
        return fsspec.open(url, "rb", compression="infer")
    except ImportError as e:
        target = known_implementations.get(protocol, {}).get("class", "")
        package = target.split(".", 1)[0] or getattr(e, "name", None) or "?"
        raise BatchError(f"{url}: reading {protocol}:// needs the {package} package, which is "
                         f"not installed (pip install {package}, on the workers too)") from None
    except ValueError as e:
        raise BatchError(f"{url}: {e}") from None


def open_input(url: str) -> IO[bytes]:
    """The input's (decompressed) bytes; a clear error for a missing file."""
    of = _fsspec_open(url)
    try:
        return of.open()
    except FileNotFoundError:
        raise BatchError(f"{url}: no such input file") from None


def identity_of(url: str) -> dict[str, Any]:
    """Size and modification time of the input, as its filesystem reports them."""
    of = _fsspec_open(url)
    try:
        info = of.fs.info(of.path)
    except FileNotFoundError:
        raise BatchError(f"{url}: no such input file") from None
    if info.get("type") == "directory":
        raise BatchError(f"{url}: a folder, not an input file")
    mtime = next((info[k] for k in ("mtime", "LastModified", "last_modified", "updated",
                                    "created") if k in info), None)
    path = os.path.abspath(url) if "://" not in url else url
    return {"input": path, "input_size": info.get("size"), "input_mtime": str(mtime)}


def plan_input(url: str, column: str | None, chunk_size: int, part_records: int) -> InputPlan:
    """Partitions of ``part_records`` records (rounded up to whole chunks) of ``url``."""
    per_part = max(1, -(-part_records // chunk_size)) * chunk_size
    fmt = _format_of(_PathName(url))
    ident = identity_of(url)
    with open_input(url) as f:
        if fmt in ("csv", "tsv"):
            header_end, ends, total, size = _csv_ends(f, fmt, column, url, per_part)
        else:
            header_end, (ends, total, size) = 0, _line_ends(f, per_part)
    if total and (not ends or ends[-1] != size):
        ends.append(size)
    bounds = [header_end, *ends]
    parts = tuple(Part(i, bounds[i], bounds[i + 1], min(per_part, total - i * per_part))
                  for i in range(len(ends)))
    return InputPlan(url, fmt, header_end, parts, ident)


class _PathName:
    """Just enough of a Path for ``_format_of`` (a URL keeps its ``//``)."""

    def __init__(self, url: str) -> None:
        self.name = url.rstrip("/").rsplit("/", 1)[-1]


def _line_ends(f: IO[bytes], per_part: int) -> tuple[list[int], int, int]:
    """(byte offset after every ``per_part``-th record, records, bytes) of a text/JSONL
    stream; a last line without a newline is a record, as ``batch`` reads it."""
    ends: list[int] = []
    n, pos, last = 0, 0, 10
    while block := f.read(SCAN_BLOCK):
        nl = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
        first = (len(ends) + 1) * per_part  # 1-based record number of the next partition end
        ks = np.arange(first, n + nl.size + 1, per_part)
        ends.extend((nl[ks - n - 1] + (pos + 1)).tolist())
        n += nl.size
        pos += len(block)
        last = block[-1]
    if pos and last != 10:
        n += 1
    return ends, n, pos


def _csv_ends(f: IO[bytes], fmt: str, column: str | None, url: str,
              per_part: int) -> tuple[int, list[int], int, int]:
    """(end of the header row, end of every ``per_part``-th record, records, bytes) of a
    CSV/TSV stream, parsed as ``batch.read_records`` parses it (quoted fields may hold
    newlines, so a record may span lines)."""
    consumed = [0]

    def lines() -> Iterator[str]:
        first = True
        for raw in f:
            consumed[0] += len(raw)
            line = raw.decode("utf-8", "surrogateescape")
            if first and line.startswith("\ufeff"):
                line = line[1:]
            first = False
            yield line

    reader = csv.reader(lines(), delimiter="\t" if fmt == "tsv" else ",")
    header = next(reader, None)
    if header is None:
        return consumed[0], [], 0, consumed[0]
    column_index(header, column, url)
    header_end = consumed[0]
    ends: list[int] = []
    n = 0
    for _ in reader:
        n += 1
        if n % per_part == 0:
            ends.append(consumed[0])
    return header_end, ends, n, consumed[0]


def range_lines(url: str, start: int, end: int) -> Iterator[str]:
    """Decoded lines of bytes ``start..end`` (line-aligned) as ``batch`` decodes a file."""
    with open_input(url) as f:
        if start:
            f.seek(start)
        pos = start
        for raw in f:
            if pos >= end:
                break
            line = raw.decode("utf-8", "surrogateescape")
            if pos == 0 and line.startswith("\ufeff"):
                line = line[1:]
            pos += len(raw)
            yield line


def read_header(url: str, fmt: str, header_end: int) -> list[str] | None:
    """The CSV/TSV header row (bytes ``0..header_end``), or None for other formats."""
    if fmt not in ("csv", "tsv") or header_end == 0:
        return None
    reader = csv.reader(range_lines(url, 0, header_end), delimiter="\t" if fmt == "tsv" else ",")
    return next(reader, None)
