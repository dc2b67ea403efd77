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

from nlpsvc.ngram._probejit import cttz, data_address, home, load8, popcount, step

_SEED = np.uint64(0x2545F4914F6CDD1D)  # the hash of the empty byte string
_U8, _U32, _U56 = np.uint64(8), np.uint64(32), np.uint64(56)
_LONG = np.uint32(1 << 31)  # the meta bit of a word of 8 bytes or more
_ID = np.uint32((1 << 31) - 1)
_LO, _HI = np.uint64(0x0101010101010101), np.uint64(0x8080808080808080)
_ONE, _U3, _ZERO64 = np.uint64(1), np.uint64(3), np.uint64(0)
MAX_WORDS = (1 << 31) - 2  # ids the meta word holds
# ``_space``: lanes below 0x01 (NUL), 0x09, 0x0E, 0x1C and 0x21; ASCII whitespace is
# 0x09-0x0D and 0x1C-0x20 (``str.split``'s), the bytes 0x01-0x08 and 0x0E-0x1B are token bytes
_B01, _B09, _B0E, _B1C, _B21 = (_LO * np.uint64(c) for c in (0x01, 0x09, 0x0E, 0x1C, 0x21))
_PAD = np.uint64(0x61)  # a token byte: the lanes past a text's last byte


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
def _nul_bytes(v: np.uint64) -> np.uint64:
    """Non-zero when the word ``v`` holds a NUL byte; its lowest set bit is in the first
    NUL's byte (the bits above it may be false alarms, never the lowest)."""
    return (v - _LO) & ~v & _HI


@numba.njit(inline="always")
def _below(v: np.uint64, c: np.uint64) -> np.uint64:
    """0x80 in each byte lane of ``v`` below the byte of ``c`` (``c``: one byte <= 0x80 in
    every lane), exactly: no borrow crosses lanes, and a lane of 0x80 or more is never below."""
    return ~((v | _HI) - c) & _HI & ~v


@numba.njit(inline="always")
def _space(v: np.uint64) -> np.uint64:
    """0x80 in each lane of ``v`` that is ASCII whitespace (``str.split``'s: 0x09-0x0D,
    0x1C-0x20); the bytes 0x01-0x08 and 0x0E-0x1B are not."""
    return (_below(v, _B0E) & ~_below(v, _B09)) | (_below(v, _B21) & ~_below(v, _B1C))


@numba.njit(inline="always")
def _ends(v: np.uint64, ws: int) -> np.uint64:
    """The lanes that end a token, lowest set bit exact: NUL (``ws`` 0); every byte below
    0x21 (1: ``count_lines`` found no control byte, 0x01-0x08 or 0x0E-0x1B, in the text); NUL
    and ASCII whitespace (2). 1 is ~6% of the scoring loop's time faster than 2 (measured)."""
    if ws == 0:
        return _nul_bytes(v)
    if ws == 1:
        return _below(v, _B21)
    return _below(v, _B01) | _space(v)


@numba.njit(inline="always")
def _is_end(b: np.uint8, ws: int) -> bool:
    """``_ends`` of one byte."""
    if ws == 0:
        return b == 0
    if ws == 1:
        return b < 0x21
    return b == 0 or (b <= 0x20 and (0x09 <= b <= 0x0D or b >= 0x1C))


@numba.njit(inline="always")
def _low(v: np.uint64, n: np.uint64) -> np.uint64:
    """The first ``n`` (< 8) bytes of the word ``v``, zero-padded: ``_chunk``'s value."""
    return v & ((_ONE << (n << _U3)) - _ONE)


@numba.njit(inline="always")
def scan_token(text: bytes, tp: int, a: int, n_text: int, ws: int = 0
               ) -> tuple[int, np.uint64, np.uint64]:
    """End (its NUL or the text's end), head and hash (``head_and_hash``'s) of the token that
    starts at ``a`` in NUL-joined ``text`` (at address ``tp``), read eight bytes at a time
    where the text has them: a short token is one load and no loop, where a byte loop to find
    the NUL and another to gather the head cost a mispredicted exit each. ``ws``: which bytes
    end a token (``_ends``; 1 and 2 read ``count_lines``' text)."""
    if a + 8 <= n_text:
        v = load8(tp + a)
        z = _ends(v, ws)
        if z != 0:  # at most 7 bytes: bytes and length are the head
            n = cttz(z) >> _U3
            head = _low(v, n) | (n << _U56)
            return a + np.int64(n), head, step(step(_SEED, head), n)
        h = step(_SEED, v)  # 8 bytes or more: the first 8 are the head
        i = a + 8
        while i + 8 <= n_text:
            w = load8(tp + i)
            z = _ends(w, ws)
            if z != 0:
                n = cttz(z) >> _U3
                if n:
                    h = step(h, _low(w, n))
                e = i + np.int64(n)
                return e, v, step(h, e - a)
            h = step(h, w)
            i += 8
        e = i
        while e < n_text and not _is_end(text[e], ws):
            e += 1
        if e > i:
            h = step(h, _chunk(text, i, e))
        return e, v, step(h, e - a)
    e = a  # the text's last bytes: one at a time
    while e < n_text and not _is_end(text[e], ws):
        e += 1
    head, h = head_and_hash(text, a, e)
    return e, head, h


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


@numba.njit(cache=True, nogil=True)
def count_lines(text: bytes, lens: np.ndarray) -> int:
    """Each line's token count into ``lens``; ``text``: lines joined by NUL (UTF-8 without
    Unicode whitespace beyond ASCII's). Read 8 bytes at a time. 0 (``lens`` meaningless)
    unless the kernel can read ``text`` as ``str.split``'s tokens (``score_lines``, a token
    ending at NUL or whitespace): every line holds a token and no two separators touch (a
    line begins and ends with a token, one whitespace byte between tokens), and ``text``
    holds ``len(lens)`` lines; others are the caller's to split. Else ``scan_token``'s ``ws``
    for it: 1 when no control byte (0x01-0x08, 0x0E-0x1B) is in it, 2 otherwise."""
    n = len(text)
    ns = lens.shape[0]
    if n == 0:
        return 0
    tp = data_address(text)
    carry = np.uint64(0x80)  # a separator before the text: the first byte must not be one
    bad = ctrl = _ZERO64
    s = 0
    cnt = _ZERO64
    for i in range(0, n, 8):
        m = min(8, n - i)
        if m == 8:
            v = load8(tp + i)
        else:  # the last bytes, the lanes past them a token byte
            v = _ZERO64
            for j in range(7, -1, -1):
                v = (v << _U8) | (np.uint64(text[i + j]) if j < m else _PAD)
        nul = _below(v, _B01)
        ws = _space(v)
        sep = ws | nul
        bad |= sep & ((sep << _U8) | carry)
        ctrl |= _below(v, _B21) & ~sep
        carry = sep >> _U56
        if nul == _ZERO64:
            cnt += popcount(ws)
            continue
        z = nul  # a line ends in this word: one more token than its whitespace bytes
        while z != _ZERO64:
            below = (_ONE << cttz(z)) - _ONE
            if s < ns:
                lens[s] = np.int64(cnt + popcount(ws & below)) + 1
            s += 1
            ws &= ~below
            z &= z - _ONE
            cnt = _ZERO64
        cnt = popcount(ws)
    if s < ns:
        lens[s] = np.int64(cnt) + 1
    if bad != _ZERO64 or s + 1 != ns or _is_end(text[n - 1], 2):
        return 0
    return 1 if ctrl == _ZERO64 else 2
