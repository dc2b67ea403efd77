"""ARPA back-off files in and out (plain or gzip), the interchange format of KenLM and SRILM.

``write_arpa`` writes ``BackoffTables`` whose scores ARPA can carry (log10 -inf becomes ARPA's
-99). It refuses, with ``ArpaExportError``, the two kinds of model ARPA cannot represent: a
model with a non-zero ``missing_backoff`` (stupid backoff's penalty, nltk-style MLE's -inf
after an unseen context; ARPA gives such contexts backoff 0, so scores would change on reading)
and an improper model (stupid backoff: scores, not probabilities, while every ARPA reader treats
them as probabilities). ``lossy=True`` writes them anyway. ``read_arpa``
checks the file as it goes and raises ``ArpaError`` naming file and line for a missing header,
counts that do not match the sections, non-numeric fields, an unknown word or a truncated file.
The unigram section defines the vocabulary; ``<unk>``, ``<s>``, ``</s>`` get ids 0, 1, 2. A file
without ``<unk>`` gets one with log10 p = -100, as KenLM assumes.
"""

from __future__ import annotations

import gzip
import io
import math
import re
import zlib
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import IO

import numpy as np

from nlpsvc.ngram.tables import BackoffTables
from nlpsvc.ngram.vocab import SPECIALS, UNK

MISSING_UNK_LOGPROB = -100.0  # KenLM's default for a model without <unk>
LOG_ZERO = -99.0  # ARPA's stand-in for log10(0)

_COUNT_RE = re.compile(r"^ngram\s+(\d+)\s*=\s*(\d+)$")
_SECTION_RE = re.compile(r"^\\(\d+)-grams:$")
# A line that ends an n-gram section: blank (only whitespace) or a \ marker, as str.strip sees
# it; _END_RE finds one after a newline, _FIRST_END_RE at the start of a block.
_END_RE = re.compile(r"\n[^\S\n]*(?:\\|\n)")
_FIRST_END_RE = re.compile(r"[^\S\n]*(?:\\|\n)")


class ArpaError(ValueError):
    """A malformed ARPA file; the message names the file and line."""


class ArpaExportError(ValueError):
    """A model that ARPA cannot represent without changing its scores or their meaning."""


def arpa_loss(tables: BackoffTables) -> list[str]:
    """Why writing ``tables`` as ARPA would lose information (empty when it would not).

    ARPA has no way to say "a context that is not stored backs off with weight w != 1" nor
    "these are scores, not probabilities", so a reader would silently score such a model
    differently (stupid backoff, nltk-style MLE: by up to ~8 log10 on PTB) or claim a
    perplexity for it.
    """
    why = []
    if tables.missing_backoff != 0.0:
        what = "-inf" if math.isinf(tables.missing_backoff) else f"{tables.missing_backoff:.6g}"
        why.append(
            f"it backs off from contexts it never saw with log10 weight {what}, which ARPA "
            "cannot store (an ARPA reader uses 0), so such scores would change"
        )
    if not tables.proper:
        why.append("its scores are not probabilities, and ARPA readers treat them as such")
    return why


def _open(path: Path, mode: str) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, mode.replace("t", "") + "b"), encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def _fmt(x: float) -> str:
    if math.isinf(x) and x < 0:
        return "-99"
    return repr(float(x))


def write_arpa(tables: BackoffTables, path: str | Path, *, lossy: bool = False) -> None:
    """Write ``tables`` as an ARPA file (``.gz``: gzip-compressed).

    Raises ``ArpaExportError`` (before creating the file) for a model ARPA cannot represent
    (see ``arpa_loss``) unless ``lossy=True``: the file then holds the stored n-grams and
    backoffs only, and reads back as an ordinary proper back-off model.
    """
    path = Path(path)
    why = arpa_loss(tables)
    if why and not lossy:
        name = tables.smoothing or "this model"
        raise ArpaExportError(
            f"cannot write {name} as ARPA without losing information: {'; '.join(why)}. "
            "Pass lossy=True (nlpsvc export --lossy) to write it anyway"
        )
    N = tables.order
    words = tables.vocab
    with _open(path, "wt") as f:
        f.write("\\data\\\n")
        for o, g in enumerate(tables.grams, 1):
            f.write(f"ngram {o}={g.shape[0]}\n")
        for o in range(1, N + 1):
            f.write(f"\n\\{o}-grams:\n")
            g = tables.grams[o - 1]
            lps = tables.logprob[o - 1].tolist()
            bos = tables.backoff[o - 1].tolist()
            step = 1 << 16
            for start in range(0, g.shape[0], step):
                rows = g[start : start + step].tolist()
                names = [" ".join([words[i] for i in r]) for r in rows]
                lp = lps[start : start + step]
                if o < N:
                    bo = bos[start : start + step]
                    rows_out = zip(lp, names, bo, strict=True)
                    lines = [f"{_fmt(p)}\t{n}\t{_fmt(b)}\n" for p, n, b in rows_out]
                else:
                    lines = [f"{_fmt(p)}\t{n}\n" for p, n in zip(lp, names, strict=True)]
                f.writelines(lines)
        f.write("\n\\end\\\n")


class _Lines:
    """Lines of an ARPA file opened in binary, decoded a block of ~``block`` bytes at a time.

    Every block is cut after a newline, so it holds whole lines. The header and markers are
    read one stripped line at a time (iteration); section bodies a block at a time (``take``),
    the text after a section's end being given back (``unread``). ``\\r\\n`` and a lone
    ``\\r`` end lines as in text mode. Line numbers are kept for error messages.
    """

    def __init__(self, f: IO[bytes], block: int = 1 << 22) -> None:
        self.f, self.block = f, block
        self.rest = b""  # bytes read after the last newline
        self.eof = False
        self.buf = ""
        self.pos = 0
        self.line = 1  # number of the line starting at ``pos``
        self.n = 0  # number of the last line handed out

    def _fill(self) -> bool:
        """Make ``buf[pos:]`` non-empty; False at the end of the file."""
        if self.pos < len(self.buf):
            return True
        data, self.rest = self.rest, b""
        while not self.eof:
            chunk = self.f.read(self.block)
            if not chunk:
                self.eof = True
                break
            data += chunk
            cut = data.rfind(b"\n") + 1
            if cut:
                data, self.rest = data[:cut], data[cut:]
                break
        if self.eof and data and not data.endswith(b"\n"):
            data += b"\n"  # the last line had no newline
        text = data.decode("utf-8")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.buf, self.pos = text, 0
        return bool(text)

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> tuple[int, str]:
        if not self._fill():
            raise StopIteration
        j = self.buf.index("\n", self.pos)
        line = self.buf[self.pos : j]
        self.pos = j + 1
        self.n = self.line
        self.line += 1
        return self.n, line.strip()

    def take(self) -> tuple[int, str]:
        """(number of its first line, the rest of the block: whole lines); "" at end of file."""
        if not self._fill():
            return self.line, ""
        text = self.buf[self.pos :] if self.pos else self.buf
        start = self.line
        self.pos = len(self.buf)
        self.line += text.count("\n")
        self.n = self.line - 1
        return start, text

    def unread(self, chars: int, lines: int) -> None:
        """Give back the last ``chars`` characters (``lines`` lines) handed out by ``take``."""
        self.pos -= chars
        self.line -= lines
        self.n = self.line - 1


def read_arpa(path: str | Path) -> BackoffTables:
    """Read an ARPA file into ``BackoffTables`` (smoothing ``"arpa"``).

    Section bodies are parsed a block at a time with C-level ``str.split`` / ``float`` /
    ``dict`` lookups over whole columns instead of a Python loop per line (see
    ``_parse_body``); every check of a line-by-line reader is kept, and an error still names
    the file and line.
    """
    path = Path(path)
    try:
        f: IO[bytes] = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except OSError as e:
        raise ArpaError(f"{path}: cannot open ({e})") from e
    with f:
        try:
            return _read(path, _Lines(f))
        except (UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise ArpaError(f"{path}: unreadable ({e})") from e
        except OSError as e:
            raise ArpaError(f"{path}: cannot read ({e})") from e


def _read(path: Path, lines: _Lines) -> BackoffTables:
    def err(n: int | str, msg: str) -> ArpaError:
        return ArpaError(f"{path}:{n}: {msg}")

    n = 0
    for n, line in lines:  # noqa: B007 - n is used after the loop
        if line == "\\data\\":
            break
        # text before \data\ is allowed (SRILM/KenLM write none; some tools write comments)
    else:
        raise err(n or 1, "no \\data\\ header: not an ARPA file")
    declared: dict[int, int] = {}
    declared_at: dict[int, int] = {}
    line = ""
    for n, line in lines:
        if not line:
            if declared:
                break
            continue
        m = _COUNT_RE.match(line)
        if not m:
            if _SECTION_RE.match(line) and declared:
                break
            raise err(n, f"expected 'ngram N=count' in the \\data\\ header, got {line[:60]!r}")
        o, c = int(m.group(1)), int(m.group(2))
        if o != len(declared) + 1:
            raise err(n, f"header declares order {o} after order {len(declared)}")
        declared[o] = c
        declared_at[o] = n
    else:
        raise err(n, "truncated file: ended inside the \\data\\ header")
    if not declared:
        raise err(n, "the \\data\\ header declares no n-gram counts")
    N = len(declared)

    index: dict[str, int] = {}
    grams: list[np.ndarray] = []
    logprobs: list[np.ndarray] = []
    backoffs: list[np.ndarray] = []
    header: str | None = line if _SECTION_RE.match(line) else None
    for o in range(1, N + 1):
        while not header:
            try:
                n, header = next(lines)
            except StopIteration:
                raise err(lines.n, f"truncated file: no \\{o}-grams: section") from None
        if header != f"\\{o}-grams:":
            raise err(n, f"expected \\{o}-grams:, got {header[:60]!r}")
        header = None
        parts_ids, parts_lp, parts_bo = [], [], []
        count = 0
        while True:
            first, text = lines.take()
            if not text:
                raise err(lines.n, f"truncated file: ended inside the \\{o}-grams: section")
            # The section ends at its first blank line or \ marker (as str.strip sees them).
            stop = _FIRST_END_RE.match(text)
            cut = 0 if stop else (m.start() + 1 if (m := _END_RE.search(text)) else len(text))
            body = text[:cut]
            end = body.count("\n")
            ids, lp, bo = _parse_body(body, end, o, first, index, err)
            parts_ids.append(ids)
            parts_lp.append(lp)
            parts_bo.append(bo)
            count += end
            if cut < len(text):
                lines.unread(len(text) - cut, text.count("\n", cut))  # read the marker again
                break
        if count != declared[o]:
            raise err(
                first + end,
                f"header (line {declared_at[o]}) declares {declared[o]} {o}-grams, "
                f"the section has {count}",
            )
        grams.append(np.concatenate(parts_ids).reshape(-1, o))
        logprobs.append(np.concatenate(parts_lp))
        backoffs.append(np.concatenate(parts_bo))
    end_line = ""
    while not end_line:
        try:
            n, end_line = next(lines)
        except StopIteration:
            raise err(lines.n, "truncated file: no \\end\\ marker") from None
    if end_line != "\\end\\":
        raise err(n, f"expected \\end\\ after the {N}-grams, got {end_line[:60]!r}")
    return _with_specials_first(list(index), grams, logprobs, backoffs)


def _parse_body(
    body: str,
    m: int,
    o: int,
    first: int,
    index: dict[str, int],
    err: Callable[[int, str], ArpaError],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word ids (flat, ``o`` per line), log10 p and backoff of ``m`` ``o``-gram lines.

    ``body`` holds the lines, each ending in a newline; ``first`` is the number of its first
    line; unigram words are added to ``index`` in file order. Fast path: when every line has the
    same number of fields (KenLM writes a backoff on every lower-order line), one ``str.split``
    of the whole text with a NUL token per line end gives the columns as list slices, and the
    NUL tokens prove the layout (each line's end is exactly where it should be). Otherwise lines
    are split one by one and grouped by field count. An error names the line of the problem it
    reports (with several problems in one block, not necessarily the earliest).
    """
    ids = np.empty((m, o), dtype=np.int32)
    lp = np.empty(m)
    bo = np.zeros(m)
    if m == 0:
        return ids.reshape(-1), lp, bo
    groups: list[tuple[int, np.ndarray, list[list[str]]]] = []  # (fields, rows, columns)
    words: list[str] | None = None
    if "\0" not in body:
        flat = body.replace("\n", " \0 ").split()
        for k in (o + 2, o + 1):
            if len(flat) == m * (k + 1) and flat[k :: k + 1].count("\0") == m:
                groups.append((k, np.arange(m), [flat[j :: k + 1] for j in range(k)]))
                words = groups[0][2][1]
                break
    if not groups:
        fields = list(map(str.split, body.split("\n")[:m]))
        nf = np.fromiter(map(len, fields), dtype=np.int64, count=m)
        bad = np.flatnonzero((nf != o + 1) & (nf != o + 2))
        if bad.size:
            i = int(bad[0])
            raise err(first + i, f"a {o}-gram line needs {o + 1} or {o + 2} fields, got {nf[i]}")
        for k in (o + 2, o + 1):
            rows = np.flatnonzero(nf == k)
            if rows.size:
                group = fields if rows.size == m else [fields[i] for i in rows.tolist()]
                flat = list(chain.from_iterable(group))
                groups.append((k, rows, [flat[j::k] for j in range(k)]))
        words = [f[1] for f in fields]
    for k, rows, cols in groups:
        lp[rows] = _floats(cols[0], rows, first, err)
        if k == o + 2:
            bo[rows] = _floats(cols[o + 1], rows, first, err)
        if o == 1:
            continue  # words below, in file order
        for j in range(o):
            try:
                col = np.array(list(map(index.__getitem__, cols[j + 1])), dtype=np.int32)
            except KeyError:
                i = next(i for i, w in enumerate(cols[j + 1]) if w not in index)
                word = cols[j + 1][i]
                raise err(first + int(rows[i]), f"word {word!r} is not in the unigram section"
                          ) from None
            if rows.size == m:
                ids[:, j] = col
            else:
                ids[rows, j] = col
    if o == 1:
        assert words is not None
        size = len(index)
        new = dict(zip(words, range(size, size + m), strict=True))
        if len(new) != m or not new.keys().isdisjoint(index):
            seen: set[str] = set()
            for i, w in enumerate(words):
                if w in seen or w in index:
                    raise err(first + i, f"duplicate unigram {w!r}")
                seen.add(w)
        index.update(new)
        ids[:, 0] = np.arange(size, size + m, dtype=np.int32)
    return ids.reshape(-1), lp, bo


def _floats(
    strings: list[str], rows: np.ndarray, first: int, err: Callable[[int, str], ArpaError]
) -> np.ndarray:
    """``float`` over a column in one C-level pass; the first bad or NaN entry names its line."""
    try:
        out = np.array(list(map(float, strings)), dtype=np.float64)  # 2x np.fromiter here
    except ValueError:
        for i, x in enumerate(strings):
            try:
                float(x)
            except ValueError:
                raise err(first + int(rows[i]), f"non-numeric probability or backoff {x[:60]!r}"
                          ) from None
        raise  # pragma: no cover - float failed above, so the loop raises
    nan = np.flatnonzero(np.isnan(out))
    if nan.size:
        raise err(first + int(rows[int(nan[0])]), "NaN probability or backoff")
    return out


def _with_specials_first(
    words: list[str],
    grams: list[np.ndarray],
    logprobs: list[np.ndarray],
    backoffs: list[np.ndarray],
) -> BackoffTables:
    """Renumber so that ``<unk>``, ``<s>``, ``</s>`` are ids 0, 1, 2 (added when missing)."""
    extra = [w for w in SPECIALS if w not in words]
    old_words = words + extra
    new_words = list(SPECIALS) + [w for w in words if w not in SPECIALS]
    pos = {w: i for i, w in enumerate(new_words)}
    remap = np.array([pos[w] for w in old_words], dtype=np.int32)
    grams = [remap[g] for g in grams]
    if extra:
        add = np.array([pos[w] for w in extra], dtype=np.int32)[:, None]
        grams[0] = np.concatenate([grams[0], add])
        fill = [MISSING_UNK_LOGPROB if w == UNK else LOG_ZERO for w in extra]
        logprobs[0] = np.concatenate([logprobs[0], np.array(fill)])
        backoffs[0] = np.concatenate([backoffs[0], np.zeros(len(extra))])
    backoffs[-1] = np.zeros_like(backoffs[-1])
    return BackoffTables(
        vocab=new_words,
        grams=grams,
        logprob=logprobs,
        backoff=backoffs,
        missing_backoff=0.0,
        proper=True,
        smoothing="arpa",
        params={},
    )
