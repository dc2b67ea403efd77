"""The compiled parts of ``wordids`` (numba): the vocabulary table's hash, fill and lookup,
apart so that importing ``wordids`` does not import numba (~120 MB of RSS).
"""

from __future__ import annotations

import numba
import numpy as np

from nlpsvc.ngram._probejit import home, tag

_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)
_U29, _U32 = np.uint64(29), np.uint64(32)
_M = np.uint64(0xBF58476D1CE4E5B9)


@numba.njit(inline="always")
def text_hash(text: bytes, a: int, b: int) -> np.uint64:
    """FNV-1a of ``text[a:b]``, finished with a multiply-xorshift (FNV's low bits alone are
    weak for short words)."""
    h = _FNV_OFFSET
    for i in range(a, b):
        h = (h ^ np.uint64(text[i])) * _FNV_PRIME
    h = (h ^ (h >> _U32)) * _M
    return h ^ (h >> _U29)


@numba.njit(inline="always")
def _same(text: bytes, a: int, b: int, blob: np.ndarray, c: int, d: int) -> bool:
    if b - a != d - c:
        return False
    for i in range(b - a):
        if text[a + i] != blob[c + i]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def fill(blob: np.ndarray, offsets: np.ndarray, slots: np.ndarray, rb: int) -> None:
    """Insert every word; a word seen again takes the later id (as ``{w: i for i, w}``)."""
    n_slots = slots.shape[0]
    mask = (np.uint64(1) << np.uint64(rb)) - np.uint64(1)
    for w in range(offsets.shape[0] - 1):
        a, b = offsets[w], offsets[w + 1]
        h = text_hash(blob, a, b)
        i = home(h, n_slots)
        while slots[i] != 0:
            other = np.int64(np.uint64(slots[i]) & mask) - 1
            if _same(blob, a, b, blob, offsets[other], offsets[other + 1]):
                break
            i += 1
            if i == n_slots:
                i = 0
        slots[i] = np.uint32(tag(h, rb) | np.uint64(w + 1))


@numba.njit(inline="always")
def lookup(
    text: bytes, a: int, b: int, blob: np.ndarray, offsets: np.ndarray, slots: np.ndarray,
    rb: int, unk: int,
) -> int:
    """Id of the word ``text[a:b]``, ``unk`` when it is not in the vocabulary."""
    n_slots = slots.shape[0]
    h = text_hash(text, a, b)
    i = home(h, n_slots)
    t = tag(h, rb)
    mask = (np.uint64(1) << np.uint64(rb)) - np.uint64(1)
    while True:
        s = np.uint64(slots[i])
        if s == 0:
            return unk
        if (s ^ t) <= mask:
            w = np.int64(s & mask) - 1
            if _same(text, a, b, blob, offsets[w], offsets[w + 1]):
                return w
        i += 1
        if i == n_slots:
            i = 0
