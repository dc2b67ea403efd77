"""The compiled parts of ``probing`` (numba): hashing, probing and filling the tables.

In a module of their own because importing numba costs ~120 MB of RSS (llvmlite's library):
``import nlpsvc.ngram`` and a build's count and estimate stages do without it; the first
table filled or sentence scored imports it.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from nlpsvc.ngram.probing import SEED

_U30, _U27, _U31 = np.uint64(30), np.uint64(27), np.uint64(31)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_ONE, _ZERO = np.uint64(1), np.uint64(0)
_U32 = np.uint64(32)
_K = np.uint64(0x9E3779B97F4A7C15)  # odd: h * _K is a bijection of h


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


@intrinsic
def data_address(typingctx, buf):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
    """The integer address of a ``bytes`` object's (or an array's) first byte: the kernel
    reads a token's bytes eight at a time (``load8``) instead of one by one."""

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        data = cgutils.create_struct_proxy(signature.args[0])(context, builder, value=args[0])
        return builder.ptrtoint(data.data, ir.IntType(64))

    return types.int64(buf), codegen


@intrinsic
def cttz(typingctx, x):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
    """Trailing zero bits of a non-zero uint64 (``llvm.cttz``, one instruction): where the
    first NUL byte of a word is."""

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(i64, [i64, ir.IntType(1)])
        fn = builder.module.declare_intrinsic("llvm.cttz", [i64], fnty)
        return builder.call(fn, [args[0], ir.IntType(1)(1)])

    return types.uint64(types.uint64), codegen


@intrinsic
def popcount(typingctx, x):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
    """Set bits of a uint64 (``llvm.ctpop``, one instruction): how many lanes a mask flags."""

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        i64 = ir.IntType(64)
        fn = builder.module.declare_intrinsic("llvm.ctpop", [i64],
                                              ir.FunctionType(i64, [i64]))
        return builder.call(fn, [args[0]])

    return types.uint64(types.uint64), codegen


@numba.njit(inline="always")
def load8(addr: int) -> np.uint64:
    """The 8 bytes at an integer address (any alignment), little-endian."""
    return numba.carray(address(addr), 1, np.uint64)[0]


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
    keys_addr: int, key_step: int, slots_addr: int, n_slots: int, rb: int, h: np.uint64,
    key: int,
) -> int:
    """Row of the n-gram of hash ``h`` and chain key ``key``, -1 when absent; row r's key is
    the int64 at ``keys_addr + r * key_step`` (8: a keys array; 16 or 12: in a record, its
    log prob and backoff on the same cache line)."""
    slots = numba.carray(address(slots_addr), n_slots, np.uint32)
    i = home(h, n_slots)
    fp = tag(h, rb)
    mask = (_ONE << np.uint64(rb)) - _ONE
    while True:
        s = np.uint64(slots[i])
        if s == _ZERO:
            return -1
        if (s ^ fp) <= mask:
            row = np.int64(s & mask) - 1
            if numba.carray(address(keys_addr + row * key_step), 1, np.int64)[0] == key:
                return row
        i += 1
        if i == n_slots:
            i = 0


@numba.njit(cache=True, nogil=True)
def fill(chain: np.ndarray, V: int, slots: np.ndarray, rb: int) -> None:
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


@numba.njit(cache=True, nogil=True)
def word_hashes(V: int) -> np.ndarray:
    """The hash of every one-word sequence (ids 0..V-1): the first link of ``fill_block``."""
    out = np.empty(V, dtype=np.uint64)
    for w in range(V):
        out[w] = step(SEED, w)
    return out


@numba.njit(cache=True, nogil=True)
def fill_block(keys: np.ndarray, V: int, prev: np.ndarray, out: np.ndarray,
               slots: np.ndarray, rb: int, row0: int) -> None:
    """Insert rows ``row0``.. (chain keys ``keys``) into ``slots`` as ``fill`` does, each
    hash taken from its prefix's in ``prev`` (the order below's hashes) instead of walking
    the prefix chain; with a non-empty ``out``, keep each hash there for the next order."""
    n_slots = slots.shape[0]
    keep = out.shape[0] > 0
    for j in range(keys.shape[0]):
        k = keys[j]
        h = step(prev[k // V], k % V)
        if keep:
            out[row0 + j] = h
        i = home(h, n_slots)
        while slots[i] != 0:
            i += 1
            if i == n_slots:
                i = 0
        slots[i] = np.uint32(tag(h, rb) | np.uint64(row0 + j + 1))
