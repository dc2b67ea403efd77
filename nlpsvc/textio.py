"""Reading text files line by line: plain, ``.gz``, ``.bz2`` or ``.xz``, strict UTF-8.

Shared by the corpus readers, ``nlpsvc eval`` and batch scoring, so every command accepts the
same files and reports a bad byte the same way: naming the file and the line.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

COMPRESSION: dict[str, Callable[[Path], IO[bytes]]] = {
    ".gz": lambda p: gzip.open(p, "rb"),
    ".bz2": lambda p: bz2.open(p, "rb"),
    ".xz": lambda p: lzma.open(p, "rb"),
}


class TextFileError(ValueError):
    """A text file that cannot be read as UTF-8 text; the message names file and line."""


def strip_compression(name: str) -> tuple[str, str]:
    """``("a.txt", ".gz")`` for ``"a.txt.gz"``; ``(name, "")`` for an uncompressed name."""
    for ext in COMPRESSION:
        if name.endswith(ext):
            return name[: -len(ext)], ext
    return name, ""


def open_binary(path: str | Path) -> IO[bytes]:
    """Open a plain or compressed file for reading bytes."""
    path = Path(path)
    _, ext = strip_compression(path.name)
    return COMPRESSION[ext](path) if ext else open(path, "rb")


def read_lines(path: str | Path, errors: str = "strict") -> Iterator[tuple[int, str]]:
    """(line number, text without its newline) for each line of ``path``.

    ``errors="strict"`` raises ``TextFileError`` naming the file and line of a bad UTF-8 byte;
    ``"replace"`` reads it as U+FFFD. A UTF-8 byte-order mark on the first line is dropped.
    """
    path = Path(path)
    with open_binary(path) as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8", errors)
            except UnicodeDecodeError as e:
                raise TextFileError(
                    f"{path}:{lineno}: invalid UTF-8 at byte {e.start} "
                    "(fix the file, or read it with --errors replace)"
                ) from None
            yield lineno, line.rstrip("\r\n")


DIALOG_FORMATS = ("tsv", "jsonl", "dailydialog")


def parse_dialog_line(fmt: str, line: str) -> list[str] | None:
    """Stripped turns of one dialogue-file line, empty turns kept; None when malformed.

    ``tsv``: ``prompt<TAB>reply``; ``jsonl``: ``{"turns": [...]}``; ``dailydialog``: turns
    each ending in ``__eou__``. One parser for the corpus reader and ``nlpsvc eval``, so both
    read a dialogue file the same way.
    """
    if fmt == "tsv":
        prompt, tab, reply = line.partition("\t")
        return [prompt.strip(), reply.strip()] if tab else None
    if fmt == "jsonl":
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return None
        turns = obj.get("turns") if isinstance(obj, dict) else None
        if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
            return None
        return [t.strip() for t in turns]
    if fmt == "dailydialog":
        parts = [t.strip() for t in line.split("__eou__")]
        if len(parts) > 1 and not parts[-1]:  # the line ends with __eou__
            parts.pop()
        return parts
    raise ValueError(
        f"unknown dialogue format {fmt!r}; expected one of {', '.join(DIALOG_FORMATS)}"
    )
