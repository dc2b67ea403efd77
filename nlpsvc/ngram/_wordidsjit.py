"""The compiled parts of ``wordids`` (numba): the vocabulary table's hash, fill and lookup,
apart so that importing ``wordids`` does not import numba (~120 MB of RSS).

A slot is three uint32 (12 bytes): the word's ``head`` (64 bits, in the first two) and
``long << 31 | id + 1`` (0: empty). A word of at most 7 bytes has its bytes and its length in
its head, so a token that short (most of them) is found or refused with the slot alone; a
longer word's head is its first 8 bytes, and a match also compares lengths and the other bytes
through ``offsets`` and ``blob``.
"""

from __future__ import annotations

import numba
import numpy as np

from nlpsvc.ngram._probejit import home, step

_SEED = np.uint64(0x2545F4914F6CDD1D)  # the hash of the empty byte string
_U8, _U32, _U56 = np.uint64(8), np.uint64(32), np.uint64(56)
_LONG = np.uint32(1 << 31)  # the meta bit of a word of 8 bytes or more
_ID = np.uint32((1 << 31) - 1)
MAX_WORDS = (1 << 31) - 2  # ids the meta word holds


@numba.njit(inline="always")
def _chunk(text: bytes | np.ndarray, a: int, b: int) -> np.uint64:
    """Bytes ``text[a:b]`` (at most 8) as a little-endian integer, zero-padded."""
    c = np.uint64(0)
    for i in range(b - 1, a - 1, -1):
        c = (c << _U8) | np.uint64(text[i])
    return c


@numba.njit(inline="always")
def head_and_hash(text: bytes | np.ndarray, a: int, b: int) -> tuple[np.uint64, np.uint64]:
    """The head of ``text[a:b]`` (its bytes and length when at most 7 bytes, else its first 8
    bytes) and the hash of all its bytes: 8 at a time (a multiply chain per 8 bytes, not per
    byte), then the length."""
    n = b - a
    if n < 8:
        head = _chunk(text, a, b) | (np.uint64(n) << _U56)
        return head, step(step(_SEED, head), n)
    head = _chunk(text, a, a + 8)
    h = step(_SEED, head)
    for i in range(a + 8, b, 8):
        h = step(h, _chunk(text, i, min(b, i + 8)))
    return head, step(h, n)


@numba.njit(inline="always")
def _same_long(text: bytes | np.ndarray, a: int, b: int, blob: np.ndarray, c: int,
               d: int) -> bool:
    """Whether ``text[a:b]`` equals ``blob[c:d]``, both of at least 8 bytes, heads equal."""
    if b - a != d - c:
        return False
    for i in range(8, b - a):
        if text[a + i] != blob[c + i]:
            return False
    return True


@numba.njit(inline="always")
def _head(slots: np.ndarray, i: int) -> np.uint64:
    return np.uint64(slots[i, 0]) | (np.uint64(slots[i, 1]) << _U32)


@numba.njit(cache=True, nogil=True)
def fill(blob: np.ndarray, offsets: np.ndarray, slots: np.ndarray) -> None:
    """Insert every word into the zeroed ``slots`` ((n, 3) uint32); a word seen again takes the
    later id (as ``{w: i for i, w}``)."""
    n_slots = slots.shape[0]
    for w in range(offsets.shape[0] - 1):
        a, b = offsets[w], offsets[w + 1]
        head, h = head_and_hash(blob, a, b)
        long = b - a >= 8
        meta = np.uint32(w + 1) | (_LONG if long else np.uint32(0))
        i = home(h, n_slots)
        while slots[i, 2] != 0:
            m = slots[i, 2]
            if _head(slots, i) == head and (m & _LONG) == (meta & _LONG):
                v = np.int64(m & _ID) - 1
                if not long or _same_long(blob, a, b, blob, offsets[v], offsets[v + 1]):
                    break
            i += 1
            if i == n_slots:
                i = 0
        slots[i, 0] = np.uint32(head & np.uint64(0xFFFFFFFF))
        slots[i, 1] = np.uint32(head >> _U32)
        slots[i, 2] = meta


@numba.njit(inline="always")
def lookup(
    text: bytes, a: int, b: int, blob: np.ndarray, offsets: np.ndarray, slots: np.ndarray,
    unk: int,
) -> int:
    """Id of the word ``text[a:b]``, ``unk`` when it is not in the vocabulary."""
    head, h = head_and_hash(text, a, b)
    return lookup_hashed(text, a, b, head, h, blob, offsets, slots, unk)


@numba.njit(inline="always")
def lookup_hashed(
    text: bytes, a: int, b: int, head: np.uint64, h: np.uint64, blob: np.ndarray,
    offsets: np.ndarray, slots: np.ndarray, unk: int,
) -> int:
    """``lookup`` with ``head_and_hash(text, a, b)`` known (the kernel computes it early, to
    ask for the slot's cache line before it is needed)."""
    n_slots = slots.shape[0]
    long = _LONG if b - a >= 8 else np.uint32(0)
    i = home(h, n_slots)
    while True:
        m = slots[i, 2]
        if m == 0:
            return unk
        if _head(slots, i) == head and (m & _LONG) == long:
            w = np.int64(m & _ID) - 1
            if long == 0 or _same_long(text, a, b, blob, offsets[w], offsets[w + 1]):
                return w
        i += 1
        if i == n_slots:
            i = 0
