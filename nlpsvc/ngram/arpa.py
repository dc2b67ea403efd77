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
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from nlpsvc.ngram.tables import BackoffTables
from nlpsvc.ngram.vocab import SPECIALS, UNK

MISSING_UNK_LOGPROB = -100.0  # KenLM's default for a model without <unk>
LOG_ZERO = -99.0  # ARPA's stand-in for log10(0)

_COUNT_RE = re.compile(r"^ngram\s+(\d+)\s*=\s*(\d+)$")
_SECTION_RE = re.compile(r"^\\(\d+)-grams:$")


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


def _lines(f: IO[str]) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(f, 1):
        yield n, line.strip()


def read_arpa(path: str | Path) -> BackoffTables:
    """Read an ARPA file into ``BackoffTables`` (smoothing ``"arpa"``)."""
    path = Path(path)
    try:
        f = _open(path, "rt")
    except OSError as e:
        raise ArpaError(f"{path}: cannot open ({e})") from e
    with f:
        try:
            return _read(path, _lines(f))
        except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as e:
            raise ArpaError(f"{path}: unreadable ({e})") from e


def _read(path: Path, lines: Iterator[tuple[int, str]]) -> BackoffTables:
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
    words: list[str] = []
    grams: list[np.ndarray] = []
    logprobs: list[np.ndarray] = []
    backoffs: list[np.ndarray] = []
    pending = line if _SECTION_RE.match(line) else None
    for o in range(1, N + 1):
        header = pending
        pending = None
        while header is None or not header:
            try:
                n, header = next(lines)
            except StopIteration:
                raise err(n, f"truncated file: no \\{o}-grams: section") from None
        if header != f"\\{o}-grams:":
            raise err(n, f"expected \\{o}-grams:, got {header[:60]!r}")
        ids = array("i")
        lp = array("d")
        bo = array("d")
        count = 0
        for n, line in lines:
            if not line:
                break
            if line.startswith("\\"):
                pending = line
                break
            parts = line.split()
            if len(parts) not in (o + 1, o + 2):
                raise err(n, f"a {o}-gram line needs {o + 1} or {o + 2} fields, got {len(parts)}")
            try:
                p = float(parts[0])
                b = float(parts[o + 1]) if len(parts) == o + 2 else 0.0
            except ValueError:
                raise err(n, f"non-numeric probability or backoff in {line[:60]!r}") from None
            if math.isnan(p) or math.isnan(b):
                raise err(n, "NaN probability or backoff")
            if o == 1:
                w = parts[1]
                if w in index:
                    raise err(n, f"duplicate unigram {w!r}")
                index[w] = len(words)
                words.append(w)
                ids.append(index[w])
            else:
                for w in parts[1 : o + 1]:
                    i = index.get(w)
                    if i is None:
                        raise err(n, f"word {w!r} is not in the unigram section")
                    ids.append(i)
            lp.append(p)
            bo.append(b)
            count += 1
        else:
            raise err(n, f"truncated file: ended inside the \\{o}-grams: section")
        if count != declared[o]:
            raise err(
                n,
                f"header (line {declared_at[o]}) declares {declared[o]} {o}-grams, "
                f"the section has {count}",
            )
        grams.append(np.frombuffer(ids, dtype=np.int32).reshape(-1, o).copy())
        logprobs.append(np.frombuffer(lp, dtype=np.float64).copy())
        backoffs.append(np.frombuffer(bo, dtype=np.float64).copy())
    end = pending
    while not end:
        try:
            n, end = next(lines)
        except StopIteration:
            raise err(n, "truncated file: no \\end\\ marker") from None
    if end != "\\end\\":
        raise err(n, f"expected \\end\\ after the {N}-grams, got {end[:60]!r}")
    return _with_specials_first(words, grams, logprobs, backoffs)


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
