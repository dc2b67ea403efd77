"""The compiled parts of ``wordids`` (numba): the vocabulary table's hash, fill and lookup,
apart so that importing ``wordids`` does not import numba (~120 MB of RSS).

A slot is two uint64: the word's first 8 bytes (little-endian, zero-padded: its ``head``) and
``len << 32 | id + 1`` (0: empty). A token of at most 8 bytes is then found or refused with the
one cache line of its slot; a longer one also compares its other bytes with ``blob``.
"""

from __future__ import annotations

import numba
import numpy as np

from nlpsvc.ngram._probejit import home, step

_SEED = np.uint64(0x2545F4914F6CDD1D)  # the hash of the empty byte string
_U8, _U32 = np.uint64(8), np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)


@numba.njit(inline="always")
def _chunk(text: bytes | np.ndarray, a: int, b: int) -> np.uint64:
    """Bytes ``text[a:b]`` (at most 8) as a little-endian integer, zero-padded."""
    c = np.uint64(0)
    for i in range(b - 1, a - 1, -1):
        c = (c << _U8) | np.uint64(text[i])
    return c


@numba.njit(inline="always")
def head_and_hash(text: bytes | np.ndarray, a: int, b: int) -> tuple[np.uint64, np.uint64]:
    """The head of ``text[a:b]`` and the hash of all its bytes: 8 at a time (a multiply chain
    per 8 bytes, not per byte), then the length."""
    head = _chunk(text, a, min(b, a + 8))
    h = step(_SEED, head)
    for i in range(a + 8, b, 8):
        h = step(h, _chunk(text, i, min(b, i + 8)))
    return head, step(h, b - a)


@numba.njit(inline="always")
def _same_tail(text: bytes | np.ndarray, a: int, b: int, blob: np.ndarray, c: int) -> bool:
    """Whether ``text[a + 8:b]`` equals ``blob[c + 8:c + b - a]`` (heads and lengths equal)."""
    for i in range(8, b - a):
        if text[a + i] != blob[c + i]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def fill(blob: np.ndarray, offsets: np.ndarray, slots: np.ndarray) -> None:
    """Insert every word into the zeroed ``slots`` ((n, 2) uint64); a word seen again takes the
    later id (as ``{w: i for i, w}``)."""
    n_slots = slots.shape[0]
    for w in range(offsets.shape[0] - 1):
        a, b = offsets[w], offsets[w + 1]
        head, h = head_and_hash(blob, a, b)
        meta = (np.uint64(b - a) << _U32) | np.uint64(w + 1)
        i = home(h, n_slots)
        while slots[i, 1] != 0:
            m = slots[i, 1]
            if slots[i, 0] == head and (m >> _U32) == np.uint64(b - a):
                c = offsets[np.int64(m & _LOW32) - 1]
                if _same_tail(blob, a, b, blob, c):
                    break
            i += 1
            if i == n_slots:
                i = 0
        slots[i, 0] = head
        slots[i, 1] = meta


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
    n = np.uint64(b - a)
    i = home(h, n_slots)
    while True:
        m = slots[i, 1]
        if m == 0:
            return unk
        if slots[i, 0] == head and (m >> _U32) == n:
            w = np.int64(m & _LOW32) - 1
            if b - a <= 8 or _same_tail(text, a, b, blob, offsets[w]):
                return w
        i += 1
        if i == n_slots:
            i = 0
