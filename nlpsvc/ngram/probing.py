"""Linear-probing hash tables over an ``NgramModel``'s key chains: O(1) n-gram lookups.

Why: the sorted keys answer a lookup by binary search, O(log n) cache misses on a large model;
a hash table answers it in about one, as KenLM's ``probing`` structure. The sorted keys stay the
model's storage (``to_tables``, ``next_logprobs``, the ARPA writer read them); a table only maps
an n-gram to its row.

Tables are keyed by a hash of the n-gram's word ids (``wordhash``: folded left to right with
``step``), not by its chain key: at query time the hash of every n-gram ending at a position
follows from the words alone, so the probes of successive positions do not wait for each
other's results (the CPU overlaps their cache misses, as KenLM's hashed keys allow). A probe
is confirmed exactly by the chain key (``keys[o][row] == prefix row * V + last word``), whose
prefix row the previous position found; hash collisions only cost a further probe.

Layout, per order o >= 2 with n rows (``keys[o]``: int64 chain keys, unique; sorted keys make
the build read them sequentially):

* ``slots``: uint32 array of ``table_size(n)`` = n + n // 2 + 1 slots (load <= 2/3, KenLM's
  probing multiplier 1.5); 0 marks an empty slot.
* a stored row r is ``(fingerprint << rb) | (r + 1)`` with ``rb = n.bit_length()`` bits for
  the row and the low ``32 - rb`` bits of the n-gram's hash as fingerprint: a probe that meets
  another n-gram is rejected without reading ``keys[r]`` (a second cache miss) in all but
  1 / 2**(32 - rb) of cases.
* the home slot is the top 32 bits of the hash scaled to ``len(slots)`` (a multiply, not a
  division; modulo for tables of 2**32 slots or more); collisions probe linearly.

Tables are built once by ``NgramModel.save`` (``probe<o>.npy``, memory-mapped on load) or, for
a model that was never saved, in memory on first use. ``build_file`` fills a mapped file, so a
table of any size is built without holding it in RAM. Every function here is compiled with
numba (``cache=True``): no Python loop per n-gram.
"""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LAYOUT = "wordhash-splitmix64-linear-1.5-uint32fp"  # in header.json; a mismatch: rebuild
MAX_ROWS = (1 << 32) - 1  # rows per order a uint32 slot can address

_U30, _U27, _U31, _U64 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(64)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_ONE, _ZERO = np.uint64(1), np.uint64(0)
_U32, _LOW32 = np.uint64(32), np.uint64(0xFFFFFFFF)
_K = np.uint64(0x9E3779B97F4A7C15)  # odd: h * _K is a bijection of h
SEED = np.uint64(0x27D4EB2F165667C5)  # the hash of the empty sequence


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


@intrinsic
def prefetch(typingctx, addr):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
    """Hint the CPU to fetch the cache line at an integer address (``llvm.prefetch``): the
    kernel asks for the next position's table slots before it needs them."""

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p], fnty)
        builder.call(fn, [builder.inttoptr(args[0], i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(types.int64), codegen


@numba.njit(inline="always")
def _mix(x: np.uint64) -> np.uint64:
    """splitmix64's finaliser: a bijective 64-bit mix."""
    x = (x ^ (x >> _U30)) * _M1
    x = (x ^ (x >> _U27)) * _M2
    return x ^ (x >> _U31)


@numba.njit(inline="always")
def step(h: np.uint64, word: int) -> np.uint64:
    """The hash of a word sequence extended by ``word`` (``SEED``: the empty sequence)."""
    return _mix(h * _K + np.uint64(word) + _ONE)


@numba.njit(inline="always")
def home(h: np.uint64, n_slots: int) -> int:
    if n_slots <= 0xFFFFFFFF:
        return np.int64(((h >> _U32) * np.uint64(n_slots)) >> _U32)
    return np.int64(h % np.uint64(n_slots))


@numba.njit(inline="always")
def tag(h: np.uint64, rb: int) -> np.uint64:
    """The fingerprint bits of hash ``h``, already shifted above the row bits."""
    fb = 32 - rb
    if fb <= 0:
        return _ZERO
    return (h & ((_ONE << np.uint64(fb)) - _ONE)) << np.uint64(rb)


@numba.njit(inline="always")
def find(
    keys_addr: int, n: int, slots_addr: int, n_slots: int, rb: int, h: np.uint64, key: int
) -> int:
    """Row of the n-gram of hash ``h`` and chain key ``key`` among the ``n`` keys at
    ``keys_addr``, -1 when absent."""
    slots = numba.carray(address(slots_addr), n_slots, np.uint32)
    keys = numba.carray(address(keys_addr), n, np.int64)
    i = home(h, n_slots)
    fp = tag(h, rb)
    mask = (_ONE << np.uint64(rb)) - _ONE
    while True:
        s = np.uint64(slots[i])
        if s == _ZERO:
            return -1
        if (s ^ fp) <= mask:
            row = np.int64(s & mask) - 1
            if keys[row] == key:
                return row
        i += 1
        if i == n_slots:
            i = 0


@numba.njit(cache=True, nogil=True)
def _fill(chain: np.ndarray, V: int, slots: np.ndarray, rb: int) -> None:
    """Insert every row of the top order of ``chain`` (int64 (o-1, 2): address and length of
    the keys of orders 2..o) into the zeroed ``slots``: each row's words are read back down
    its prefix chain (monotone reads when the keys are sorted), then hashed left to right."""
    o = chain.shape[0] + 1
    n_slots = slots.shape[0]
    words = np.empty(o, dtype=np.int64)
    top = numba.carray(address(chain[o - 2, 0]), chain[o - 2, 1], np.int64)
    for row in range(top.shape[0]):
        k = top[row]
        for level in range(o - 1, 0, -1):  # words[level]: the last word of the prefix
            words[level] = k % V
            k = k // V
            if level > 1:
                k = numba.carray(address(chain[level - 2, 0]), chain[level - 2, 1], np.int64)[k]
        words[0] = k
        h = SEED
        for i in range(o):
            h = step(h, words[i])
        i = home(h, n_slots)
        while slots[i] != 0:
            i += 1
            if i == n_slots:
                i = 0
        slots[i] = np.uint32(tag(h, rb) | np.uint64(row + 1))


def _check(n: int) -> None:
    if n > MAX_ROWS:
        raise ValueError(f"{n} n-grams of one order: the probing table holds at most {MAX_ROWS}")


def _chain(keys: list[np.ndarray | None], o: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Addresses and lengths of the keys of orders 2..o, and the views they point into."""
    views = [readonly(np.asarray(keys[j - 1], dtype=np.int64)) for j in range(2, o + 1)]
    chain = np.array([[v.ctypes.data, v.shape[0]] for v in views], dtype=np.int64)
    return chain.reshape(o - 1, 2), views


def build(keys: list[np.ndarray | None], o: int, V: int) -> np.ndarray:
    """The table of order ``o`` (>= 2) of a model with key chains ``keys`` (``keys[j-1]``:
    order j), in memory."""
    chain, views = _chain(keys, o)
    n = views[-1].shape[0]
    _check(n)
    slots = np.zeros(table_size(n), dtype=np.uint32)
    _fill(chain, V, slots, row_bits(n))
    return slots


def build_file(keys: list[np.ndarray | None], o: int, V: int, path: str | Path) -> None:
    """Write the table of order ``o`` to ``path`` (``.npy``), filled through a mapping: RAM
    stays bounded by the page cache whatever the table's size (the keys may be mapped too)."""
    chain, views = _chain(keys, o)
    n = views[-1].shape[0]
    _check(n)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint32, shape=(table_size(n),))
    try:
        _fill(chain, V, out.view(np.ndarray), row_bits(n))
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
