"""Linear-probing hash tables over an ``NgramModel``'s key chains: O(1) n-gram lookups.

Why: the sorted keys answer a lookup by binary search, O(log n) cache misses on a large model;
a hash table answers it in about one, as KenLM's ``probing`` structure. The sorted keys stay the
model's storage (``to_tables``, ``next_logprobs``, the ARPA writer read them); a table only maps
a chain key to its row.

Layout, per order o >= 2 with n rows (``keys[o]``: int64 chain keys, any order, unique):

* ``slots``: uint32 array of ``table_size(n)`` = n + n // 2 + 1 slots (load <= 2/3, KenLM's
  probing multiplier 1.5); 0 marks an empty slot.
* a stored row r is ``(fingerprint << rb) | (r + 1)`` with ``rb = n.bit_length()`` bits for
  the row and the top ``32 - rb`` bits of the key's hash as fingerprint: a probe that meets
  another key is rejected without reading ``keys[r]`` (a second cache miss) in all but
  1 / 2**(32 - rb) of cases.
* the key's home slot is ``splitmix64(key) % len(slots)``; collisions probe linearly.

Tables are built once by ``NgramModel.save`` (``probe<o>.npy``, memory-mapped on load) or, for
a model that was never saved, in memory on first use. ``build_file`` fills a mapped file, so a
table of any size is built without holding it in RAM. Every function here is compiled with
numba (``cache=True``): no Python loop per n-gram.
"""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LAYOUT = "splitmix64-linear-1.5-uint32fp"  # written to header.json; a mismatch means rebuild
MAX_ROWS = (1 << 32) - 1  # rows per order a uint32 slot can address

_U30, _U27, _U31, _U64 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(64)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_ONE, _ZERO = np.uint64(1), np.uint64(0)


def table_size(n: int) -> int:
    """Slots of the table for ``n`` keys (at most 2/3 full)."""
    return n + n // 2 + 1


def row_bits(n: int) -> int:
    """Bits a slot spends on the row (+1) of a table of ``n`` keys; the rest is fingerprint."""
    return max(1, int(n).bit_length())


@intrinsic
def address(typingctx, addr):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
    """``void*`` from an integer address (for ``numba.carray`` over an array the caller keeps
    alive): the kernels take one descriptor array instead of a tuple of arrays per order,
    which costs ~1.4 us less per call in numba's dispatcher (a one-sentence ``score``)."""

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(types.int64), codegen


@numba.njit(inline="always")
def _mix(key: int) -> np.uint64:
    """splitmix64's finaliser: a bijective 64-bit mix, so chain keys that differ only in a few
    low bits (same parent, nearby word ids) land far apart."""
    x = np.uint64(key)
    x = (x ^ (x >> _U30)) * _M1
    x = (x ^ (x >> _U27)) * _M2
    return x ^ (x >> _U31)


@numba.njit(inline="always")
def _tag(h: np.uint64, rb: int) -> np.uint64:
    """The fingerprint bits of hash ``h``, already shifted above the row bits."""
    fb = 32 - rb
    if fb <= 0:
        return _ZERO
    return (h >> (_U64 - np.uint64(fb))) << np.uint64(rb)


@numba.njit(inline="always")
def find(keys_addr: int, n: int, slots_addr: int, n_slots: int, rb: int, key: int) -> int:
    """Row of ``key`` among the ``n`` keys at ``keys_addr``, -1 when absent."""
    slots = numba.carray(address(slots_addr), n_slots, np.uint32)
    keys = numba.carray(address(keys_addr), n, np.int64)
    h = _mix(key)
    i = np.int64(h % np.uint64(n_slots))
    tag = _tag(h, rb)
    mask = (_ONE << np.uint64(rb)) - _ONE
    while True:
        s = np.uint64(slots[i])
        if s == _ZERO:
            return -1
        if (s ^ tag) <= mask:
            row = np.int64(s & mask) - 1
            if keys[row] == key:
                return row
        i += 1
        if i == n_slots:
            i = 0


@numba.njit(cache=True, nogil=True)
def _fill(keys: np.ndarray, slots: np.ndarray, rb: int) -> None:
    """Insert rows 0..n-1 of ``keys`` into the zeroed ``slots``."""
    n_slots = slots.shape[0]
    for row in range(keys.shape[0]):
        h = _mix(keys[row])
        i = np.int64(h % np.uint64(n_slots))
        while slots[i] != 0:
            i += 1
            if i == n_slots:
                i = 0
        slots[i] = np.uint32(_tag(h, rb) | np.uint64(row + 1))


def _check(n: int) -> None:
    if n > MAX_ROWS:
        raise ValueError(f"{n} n-grams of one order: the probing table holds at most {MAX_ROWS}")


def build(keys: np.ndarray) -> np.ndarray:
    """The table of ``keys`` (int64 chain keys, unique), in memory."""
    keys = np.ascontiguousarray(keys, dtype=np.int64).view(np.ndarray)
    _check(keys.shape[0])
    slots = np.zeros(table_size(keys.shape[0]), dtype=np.uint32)
    _fill(readonly(keys), slots, row_bits(keys.shape[0]))
    return slots


def build_file(keys: np.ndarray, path: str | Path) -> None:
    """Write the table of ``keys`` to ``path`` (``.npy``), filled through a mapping: RAM stays
    bounded by the page cache whatever the table's size (keys may be mapped too)."""
    keys = np.ascontiguousarray(keys, dtype=np.int64).view(np.ndarray)
    _check(keys.shape[0])
    out = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.uint32, shape=(table_size(keys.shape[0]),)
    )
    try:
        _fill(readonly(keys), out.view(np.ndarray), row_bits(keys.shape[0]))
        out.flush()
    finally:
        del out


def valid(slots: np.ndarray, n: int) -> bool:
    """Whether ``slots`` has the shape and type of the table of ``n`` keys."""
    return slots.dtype == np.uint32 and slots.shape == (table_size(n),)


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only, C-contiguous plain view: one array type for numba (mapped or not), so each
    kernel compiles once."""
    v = np.ascontiguousarray(a).view(np.ndarray)
    v.flags.writeable = False
    return v
