"""Tokens to word ids in compiled code: a linear-probing table over the vocabulary's bytes.

Why: from Python, a dict lookup per token costs 60-120 ns on a large vocabulary (the token's
hash, then a cache miss in the dict), as much as scoring the token. Here the tokens arrive as
one byte string (UTF-8, joined by NUL: ``encode``), and the kernel hashes and looks them all up
itself, several lookups in flight at once, as KenLM's vocabulary does.

The mapping is the model's ``{word: id}`` exactly: UTF-8 with ``surrogatepass`` is one-to-one
on strings, a word stored twice maps to its last id (as the dict), and any other token is
``<unk>``. Sentences that cannot be sent this way (a token that is not a string, or holds NUL)
are left to the dict by the caller: ``encode`` returns None.

Table layout: the words' bytes back to back (``blob``) with ``offsets`` (V + 1), and a
linear-probing table of ``table_size(V)`` slots of three uint32 (``_wordidsjit``): the word's
head (its bytes and length when at most 7 bytes) and its id. A token of at most 7 bytes (most
of them) is found or refused with its slot alone; the former layout (a uint32 slot, then
``offsets``, then ``blob``) made three dependent cache misses of every token, where the
vocabulary path (scan, hash, lookup) is ~40% of the scoring loop's time (text against ids, AG
News over the 1M-token model). 12 bytes a slot keeps the model within KenLM's probing file's
size. Saved beside the model (``FILES``, mapped on load); built in memory for a model that has
none, or an older layout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from nlpsvc.ngram.probing import table_size

SEP = "\x00"
LAYOUT = "head8-splitmix-linear-1.5-u32x3"  # header.json's vocab_probe; a mismatch means rebuild
FILES = ("vocab_bytes.npy", "vocab_offsets.npy", "vocab_probe.npy")  # build()'s arrays
# ``str.split``'s whitespace beyond ASCII (``str.isspace``; a test checks the set): a text that
# holds one is split in Python (``encode_lines``)
_UNICODE_SPACE = re.compile("[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
_JIT = ("head_and_hash", "lookup")  # compiled in ``_wordidsjit`` (numba), loaded on first use


def encode(tokens: Iterable[str], n: int) -> bytes | None:
    """The ``n`` tokens as the kernel reads them, or None when the table cannot answer for
    them (then the caller's dict does)."""
    try:
        text = SEP.join(tokens).encode("utf-8", "surrogatepass")
    except TypeError:  # a token that is not a string: the dict path maps it to <unk>
        return None
    return text if text.count(0) == n - 1 or (n == 0 and not text) else None


def encode_sentences(sentences: list[Sequence[str]], nonempty: bool = False) -> bytes | None:
    """All the tokens of ``sentences`` as the kernel reads them (a batch), or None when one is
    not a string. Joined sentence by sentence (faster than one join over a chained iterator);
    ``nonempty``: the caller knows no sentence is empty (no filter: ~15% faster). A token
    holding NUL is not caught here: ``kernel.score_text`` counts the tokens itself."""
    try:
        if nonempty:
            return SEP.join(map(SEP.join, sentences)).encode("utf-8", "surrogatepass")
        return SEP.join([SEP.join(s) for s in sentences if len(s)]).encode(
            "utf-8", "surrogatepass")
    except TypeError:  # a token that is not a string: the dict path maps it to <unk>
        return None


def encode_lines(lines: list[str], lens: np.ndarray) -> tuple[bytes, int] | None:
    """``lines`` as the kernel's ``score_text`` reads them (joined by NUL, UTF-8), each line's
    ``str.split`` token count written to ``lens``, without making a token list
    (``count_lines``: compiled, 8 bytes at a time), and the kernel's ``ws`` for the text. None
    (``lens`` meaningless) when the kernel's reading would not be ``str.split``'s: a line that
    is empty or holds NUL, whitespace that is not one ASCII byte between tokens (runs, at a
    line's ends, or Unicode's); the caller splits those itself. TypeError when a line is not
    a string."""
    text = SEP.join(lines)
    if not text.isascii() and _UNICODE_SPACE.search(text):
        return None
    raw = text.encode("utf-8", "surrogatepass")
    from nlpsvc.ngram._wordidsjit import count_lines

    ws = count_lines(raw, lens)
    return (raw, ws) if ws else None


def build(words: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``blob``, ``offsets`` and ``slots`` of the vocabulary ``words`` (ids = positions)."""
    from nlpsvc.ngram._wordidsjit import MAX_WORDS

    if len(words) > MAX_WORDS:
        raise ValueError(f"{len(words):,} words: the vocabulary table holds at most "
                         f"{MAX_WORDS:,}")
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    joined = np.frombuffer(SEP.join(words).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    seps = np.flatnonzero(joined == 0)
    if seps.size == len(words) - 1:  # one encode for the lot; NUL marks the word ends
        blob = joined[joined != 0]
        offsets[1:-1] = seps - np.arange(seps.size)
        offsets[-1] = blob.size
    else:  # a word holds NUL: one by one
        encoded = [w.encode("utf-8", "surrogatepass") for w in words]
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    from nlpsvc.ngram._wordidsjit import fill

    slots = np.zeros((table_size(len(words)), 3), dtype=np.uint32)
    fill(blob, offsets, slots)
    return blob, offsets, slots


def valid(blob: np.ndarray, offsets: np.ndarray, slots: np.ndarray, V: int) -> bool:
    """Whether mapped arrays have the shapes and types of ``build``'s for V words."""
    return (blob.dtype == np.uint8 and offsets.dtype == np.int64 and slots.dtype == np.uint32
            and offsets.shape == (V + 1,) and slots.shape == (table_size(V), 3)
            and blob.ndim == 1 and int(offsets[-1]) == blob.shape[0])


def __getattr__(name: str) -> Any:
    """The compiled helpers (``lookup``, ``head_and_hash``) from ``_wordidsjit``, on first use."""
    if name in _JIT:
        from nlpsvc.ngram import _wordidsjit

        return getattr(_wordidsjit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
