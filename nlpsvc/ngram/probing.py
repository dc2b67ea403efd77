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
numba (``cache=True``, in ``_probejit``, imported on first use): no Python loop per n-gram.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nlpsvc.ngram import records

LAYOUT = "wordhash-splitmix64-linear-1.5-uint32fp"  # in header.json; a mismatch: rebuild
MAX_ROWS = (1 << 32) - 1  # rows per order a uint32 slot can address

SEED = np.uint64(0x27D4EB2F165667C5)  # the hash of the empty sequence
# compiled in ``_probejit`` (numba), loaded on first use: importing numba costs ~120 MB of RSS
_JIT = ("address", "prefetch", "step", "home", "tag", "find")


def table_size(n: int) -> int:
    """Slots of the table for ``n`` keys (at most 2/3 full)."""
    return n + n // 2 + 1


def row_bits(n: int) -> int:
    """Bits a slot spends on the row (+1) of a table of ``n`` keys; the rest is fingerprint."""
    return max(1, int(n).bit_length())


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
    from nlpsvc.ngram._probejit import fill

    fill(chain, V, slots, row_bits(n))
    return slots


def build_file(keys: list[np.ndarray | None], o: int, V: int, path: str | Path) -> None:
    """Write the table of order ``o`` to ``path`` (``.npy``), filled through a mapping: RAM
    stays bounded by the page cache whatever the table's size (the keys may be mapped too)."""
    chain, views = _chain(keys, o)
    n = views[-1].shape[0]
    _check(n)
    from nlpsvc.ngram._probejit import fill

    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint32, shape=(table_size(n),))
    try:
        fill(chain, V, out.view(np.ndarray), row_bits(n))
        out.flush()
    finally:
        del out


def build_files(folder: str | Path, order: int, V: int, block: int = 1 << 20) -> None:
    """Write ``probe<o>.npy`` for o = 2..``order`` from the keys of the records in ``folder``
    (``ngrams<o>.npy``), one order at a time, the same bytes as ``build_file``. Why not
    ``build_file``: it walks each n-gram's prefix chain, so the top order's table needs every
    order's keys mapped at once (the bounded build's peak). Here each n-gram's hash comes from
    its prefix's, kept from the order below (8 bytes per n-gram of that order), and the records
    are read in blocks (of the bytes of ``block`` keys and their copy): RAM holds one order's
    hashes, one table and a block, and each table's mapping goes when it is full.
    """
    from nlpsvc.hugemap import npy_header
    from nlpsvc.ngram._probejit import fill_block, word_hashes

    folder = Path(folder)
    prev = word_hashes(V)
    for o in range(2, order + 1):
        with open(folder / records.name(o), "rb") as f:
            shape, fortran, dtype = npy_header(f)
            if len(shape) != 1 or fortran or records.KEY not in (dtype.names or ()):
                raise ValueError(f"{f.name}: not the records of an order")
            n = int(shape[0])
            _check(n)
            hashes = np.empty(n if o < order else 0, dtype=np.uint64)
            out = np.lib.format.open_memmap(folder / f"probe{o}.npy", mode="w+",
                                            dtype=np.uint32, shape=(table_size(n),))
            try:
                slots, rb = out.view(np.ndarray), row_bits(n)
                rows = max(1, block * 8 // (dtype.itemsize + 8))
                for row0 in range(0, n, rows):
                    rec = np.fromfile(f, dtype, min(rows, n - row0))
                    keys = np.ascontiguousarray(rec[records.KEY])
                    fill_block(keys, V, prev, hashes, slots, rb, row0)
                out.flush()
            finally:
                del out, slots
        prev = hashes


def valid(slots: np.ndarray, n: int) -> bool:
    """Whether ``slots`` has the shape and type of the table of ``n`` keys."""
    return slots.dtype == np.uint32 and slots.shape == (table_size(n),)


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only, C-contiguous plain view: one array type for numba (mapped or not), so each
    kernel compiles once."""
    v = np.ascontiguousarray(a).view(np.ndarray)
    v.flags.writeable = False
    return v


def __getattr__(name: str) -> Any:
    """The compiled helpers (``find``, ``step`` ...) from ``_probejit``, imported on first use."""
    if name in _JIT:
        from nlpsvc.ngram import _probejit

        return getattr(_probejit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
