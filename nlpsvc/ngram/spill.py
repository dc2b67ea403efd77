"""Disk side of the bounded build: a private temp folder, flat binary arrays, sorted-run merging.

* ``TempArea`` - one folder per build under ``ngram.temp_dir`` named after the process id. It is
  removed when the build ends (success or error); a folder left by a killed build (its process
  is gone) is removed by the next build that starts in the same temp dir.
* ``DiskArray`` - an append-only file of one dtype, read back in blocks with ``np.fromfile``
  (explicit reads, not ``mmap``, so that pages read once do not stay in the resident set).
* ``merge_runs`` - k-way merge of sorted runs of unique int64 keys with a summed count and a
  payload, as ``lmplz`` merges its sorted blocks; each run streams through a fixed slot
  (a compiled loop merges the slots in place).

Every write goes through ``spill_errors``, which turns a full, read-only or missing temp dir
into a ``SpillError`` naming ``ngram.temp_dir``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlpsvc.ngram.memory import MAX_MERGE_BYTES, MERGE_BYTES, MIN_BLOCK, free_bytes

PREFIX = "nlpsvc-ngram-"


class SpillError(OSError):
    """The temp dir cannot take the build's spill files (full, not writable, missing)."""


@contextlib.contextmanager
def spill_errors(base: Path) -> Iterator[None]:
    """Re-raise an OSError while spilling as a ``SpillError`` that names the setting to change."""
    try:
        yield
    except SpillError:
        raise
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            why = "the disk is full"
        elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            why = "it is not writable"
        elif e.errno in (errno.ENOENT, errno.ENOTDIR):
            why = "it does not exist or is not a folder"
        else:
            why = e.strerror or str(e)
        raise SpillError(
            e.errno or errno.EIO,
            f"ngram.temp_dir {str(base)!r}: cannot write the build's temp files ({why}); free "
            "space there or point ngram.temp_dir (--set ngram.temp_dir=DIR) at another disk",
        ) from e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(base: Path) -> list[Path]:
    """Remove temp folders of builds whose process is gone (killed); returns what was removed."""
    removed = []
    with contextlib.suppress(OSError):
        for d in base.glob(f"{PREFIX}*"):
            pid_text = d.name[len(PREFIX):].split("-", 1)[0]
            if not pid_text.isdigit() or not d.is_dir():
                continue
            pid = int(pid_text)
            if pid != os.getpid() and not _alive(pid):
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
    return removed


class TempArea:
    """A private folder for one build's spill files; removed on exit, even on error."""

    def __init__(self, temp_dir: str | Path | None = None) -> None:
        self.base = Path(temp_dir) if temp_dir else Path(tempfile.gettempdir())
        self.path: Path | None = None

    def __enter__(self) -> TempArea:
        with spill_errors(self.base):
            if not self.base.is_dir():
                raise FileNotFoundError(errno.ENOENT, "no such folder", str(self.base))
            sweep_stale(self.base)
            self.path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=self.base))
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None

    def file(self, name: str) -> Path:
        if self.path is None:
            raise RuntimeError("TempArea used outside its with-block")
        return self.path / name

    def array(self, name: str, dtype: np.dtype | type) -> DiskArray:
        return DiskArray(self.file(name), np.dtype(dtype), self.base)


class DiskArray:
    """An append-only flat binary file of one dtype, read back in blocks."""

    def __init__(self, path: Path, dtype: np.dtype, base: Path | None = None) -> None:
        self.path, self.dtype = path, np.dtype(dtype)
        self.base = base if base is not None else path.parent
        self.size = 0
        with spill_errors(self.base):
            path.write_bytes(b"")
        self._f = None

    def append(self, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        with spill_errors(self.base):
            if self._f is None:
                self._f = open(self.path, "ab")  # noqa: SIM115 - kept open across appends
            values.tofile(self._f)
        self.size += values.size

    def flush(self) -> None:
        if self._f is not None:
            with spill_errors(self.base):
                self._f.close()
            self._f = None

    def read(self, start: int = 0, count: int | None = None) -> np.ndarray:
        """Items ``start .. start+count`` (to the end when ``count`` is None)."""
        self.flush()
        start = max(0, min(start, self.size))
        n = self.size - start if count is None else max(0, min(count, self.size - start))
        if n == 0:
            return np.empty(0, dtype=self.dtype)
        return np.fromfile(self.path, dtype=self.dtype, count=n,
                           offset=start * self.dtype.itemsize)

    def blocks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """(start, items) for consecutive blocks of ``size`` items."""
        for start in range(0, self.size, size):
            yield start, self.read(start, size)

    def remove(self) -> None:
        self.flush()
        with contextlib.suppress(OSError):
            self.path.unlink()


@dataclass
class Run:
    """A sorted run: unique int64 ``keys``, int64 ``counts`` (summed on merge) and an int32
    ``payload`` that is a function of the key (the first one is kept on merge)."""

    keys: DiskArray
    counts: DiskArray
    payload: DiskArray

    @classmethod
    def create(cls, area: TempArea, name: str) -> Run:
        return cls(area.array(f"{name}.keys", np.int64), area.array(f"{name}.counts", np.int64),
                   area.array(f"{name}.payload", np.int32))

    @property
    def size(self) -> int:
        return self.keys.size

    def append(self, keys: np.ndarray, counts: np.ndarray, payload: np.ndarray) -> None:
        self.keys.append(keys)
        self.counts.append(counts)
        self.payload.append(payload)

    def read(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (self.keys.read(start, count), self.counts.read(start, count),
                self.payload.read(start, count))

    def remove(self) -> None:
        for a in (self.keys, self.counts, self.payload):
            a.remove()


def merge_runs(runs: list[Run], out: Run, budget: int, area: TempArea, name: str,
               keep_inputs: bool = False, ranks: list[DiskArray] | None = None) -> bool:
    """Merge sorted ``runs`` into ``out`` (keys unique, counts summed) within ``budget`` bytes.

    When the runs are too many for one pass with slots of at least ``MIN_BLOCK`` items, groups
    of them are merged into intermediate runs first (a multi-pass merge, as external sorts do).
    Input runs are removed once merged, unless ``keep_inputs`` (intermediate runs always are).
    ``ranks`` (one file per input run): receives, for each key of each run, its row in
    ``out``, when the merge takes one pass; returns whether it did.
    """
    free = free_bytes(budget)
    fan_in = max(2, free // (MERGE_BYTES * MIN_BLOCK))
    keep = {id(r) for r in runs} if keep_inputs else set()
    one_pass = len(runs) <= fan_in
    level = 0
    while len(runs) > fan_in:
        level += 1
        merged = []
        for g in range(0, len(runs), fan_in):
            group = runs[g:g + fan_in]
            if len(group) == 1:
                merged.append(group[0])
                continue
            mid = Run.create(area, f"{name}.l{level}.{g}")
            _merge_pass(group, mid, budget, keep)
            merged.append(mid)
        runs = merged
    _merge_pass(runs, out, budget, keep, ranks if one_pass else None)
    return one_pass and ranks is not None


def _merge_pass(runs: list[Run], out: Run, budget: int, keep: set[int],
                ranks: list[DiskArray] | None = None) -> None:
    """One k-way merge through k fixed slots of ``chunk`` items each.

    Each round merges, from every slot, the keys up to the smallest last key among slots whose
    run has more on disk (those keys are complete), then refills the slots it emptied.
    """
    k = len(runs)
    room = min(free_bytes(budget), MAX_MERGE_BYTES)
    chunk = max(MIN_BLOCK, room // (MERGE_BYTES * max(1, k)))
    chunk = min(chunk, max((r.size for r in runs), default=0) or MIN_BLOCK)
    keys = np.empty(k * chunk, dtype=np.int64)
    counts = np.empty(k * chunk, dtype=np.int64)
    payload = np.empty(k * chunk, dtype=np.int32)
    rank = np.empty(k * chunk if ranks is not None else 0, dtype=np.int64)
    out_k = np.empty(k * chunk, dtype=np.int64)
    out_c = np.empty(k * chunk, dtype=np.int64)
    out_p = np.empty(k * chunk, dtype=np.int32)
    pos = np.zeros(k, dtype=np.int64)  # next item of each slot
    end = np.zeros(k, dtype=np.int64)  # end of each slot's loaded items
    read = [0] * k  # items of each run read so far
    for i in range(k):
        pos[i] = end[i] = i * chunk
    while True:
        for i, r in enumerate(runs):  # refill empty slots
            if pos[i] == end[i] and read[i] < r.size:
                ki, ci, pi = r.read(read[i], chunk)
                lo = i * chunk
                keys[lo:lo + ki.size], counts[lo:lo + ki.size], payload[lo:lo + ki.size] = (
                    ki, ci, pi)
                pos[i], end[i] = lo, lo + ki.size
                read[i] += ki.size
        live = [i for i in range(k) if pos[i] < end[i]]
        if not live:
            break
        more = [i for i in live if read[i] < runs[i].size]
        bound = min(int(keys[end[i] - 1]) for i in more) if more else int(np.iinfo(np.int64).max)
        before = pos.copy()
        n = _merge_round(keys, counts, payload, pos, end, bound, out_k, out_c, out_p, rank,
                         out.size)
        out.append(out_k[:n], out_c[:n], out_p[:n])
        if ranks is not None:
            for i in live:
                ranks[i].append(rank[before[i]:pos[i]])
    if ranks is not None:
        for f in ranks:
            f.flush()
    for r in runs:
        if id(r) not in keep:
            r.remove()


def _merge_round(keys: np.ndarray, counts: np.ndarray, payload: np.ndarray, pos: np.ndarray,
                 end: np.ndarray, bound: int, out_k: np.ndarray, out_c: np.ndarray,
                 out_p: np.ndarray, rank: np.ndarray, base: int) -> int:
    """Merge the items <= ``bound`` of every slot into ``out_*`` (equal keys: counts summed,
    the payload of the lowest slot kept); advances ``pos``; returns the number of items
    written. With a non-empty ``rank``, each consumed slot item gets its output row (``base``
    + index).

    numpy, not a compiled loop: the build's count and estimate stages then never import
    numba (~120 MB of RSS, the peak of small builds). The slots' items are gathered in slot
    order and stably sorted (timsort merges the k sorted runs), so equal keys meet in slot
    order, as a k-way merge takes them; the slots hold at most ``MAX_MERGE_BYTES``.
    """
    spans = []
    for i in range(pos.shape[0]):
        a, e = int(pos[i]), int(end[i])
        if a < e:
            m = a + int(np.searchsorted(keys[a:e], bound, side="right"))
            if m > a:
                spans.append(np.arange(a, m))
            pos[i] = m
    if not spans:
        return 0
    idx = np.concatenate(spans)
    sk = keys[idx]
    order = np.argsort(sk, kind="stable")
    idx, sk = idx[order], sk[order]
    new = np.empty(sk.size, dtype=bool)
    new[0] = True
    np.not_equal(sk[1:], sk[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    n = starts.size
    out_k[:n] = sk[starts]
    out_c[:n] = np.add.reduceat(counts[idx], starts)
    out_p[:n] = payload[idx[starts]]
    if rank.shape[0]:
        rank[idx] = base + np.cumsum(new) - 1
    return n


class NpyWriter:
    """Writes a 1-D ``.npy`` file block by block, byte-identical to ``np.save`` of the whole
    array (same version-1.0 header), so a model array never has to be whole in RAM."""

    def __init__(self, path: Path, dtype: np.dtype | type, n: int) -> None:
        self.path, self.dtype, self.n = path, np.dtype(dtype), int(n)
        self.written = 0
        self._f = open(path, "wb")  # noqa: SIM115 - closed by close()
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (self.n,)}
        np.lib.format.write_array_header_1_0(self._f, header)

    def write(self, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        values.tofile(self._f)
        self.written += values.size

    def write_zeros(self, n: int, block: int = 1 << 20) -> None:
        for start in range(0, n, block):
            self.write(np.zeros(min(block, n - start), dtype=self.dtype))

    def copy_from(self, src: DiskArray) -> None:
        """Append all of ``src`` (same dtype) by a buffered file copy, not through numpy."""
        src.flush()
        with open(src.path, "rb") as f:
            shutil.copyfileobj(f, self._f, 1 << 20)
        self.written += src.size

    def close(self) -> None:
        self._f.close()
        if self.written != self.n:
            raise RuntimeError(f"{self.path}: wrote {self.written} items, expected {self.n}")


def disk_take(arr: DiskArray, index: np.ndarray | int) -> np.ndarray:
    """A few items of a disk array at random positions (a short-lived read-only map)."""
    arr.flush()
    if arr.size == 0:
        return np.empty(0, dtype=arr.dtype)
    mm = np.memmap(arr.path, dtype=arr.dtype, mode="r", shape=(arr.size,))
    try:
        return np.array(mm[index])
    finally:
        del mm


def disk_searchsorted(arr: DiskArray, values: np.ndarray | int) -> np.ndarray:
    """``np.searchsorted`` in a sorted disk array (touches O(log n) pages)."""
    arr.flush()
    if arr.size == 0:
        return np.zeros(np.shape(values), dtype=np.int64)
    mm = np.memmap(arr.path, dtype=arr.dtype, mode="r", shape=(arr.size,))
    try:
        return np.searchsorted(mm, values)
    finally:
        del mm
