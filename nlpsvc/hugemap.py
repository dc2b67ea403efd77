"""Read-only maps of artifact files in 2 MiB pages, where Linux allows it.

Why: an n-gram query reads a few random rows of tables of hundreds of MB. In 4 KiB pages each
of those reads is also a TLB miss, and a page walk (two levels of them under a hypervisor):
with every row in the CPU caches, half of the scoring loop's time on the 13.2M-token order-5
model went to the walks (measured with ``perf``: the samples sat on the slot prefetches).
2 MiB pages let the TLB cover the whole model.

How: Linux maps a file's page-cache folios of 2 MiB with one entry when the mapping asked for
huge pages (``MADV_HUGEPAGE``), on file systems with large folios (ext4, xfs: kernel 6.x). A
file's folios are as large as the writes or the reads that cached them: a map that asked for
huge pages reads 2 MiB at a time, while a build that writes in blocks, or a hash read 1 MiB at
a time, leaves smaller ones. So:

* ``load`` maps an ``.npy`` asking for huge pages;
* ``settle`` is called on each file a publish has just written: it writes the file out and drops
  its cached pages (clean ones that no process maps), so that
* ``sha256`` (the manifest's, and ``verify``'s) reads them back through a huge-page map, in
  2 MiB folios, which the model's later maps then use.

Anywhere else (another OS, file system or kernel, a file under 2 MiB) these are a plain
read-only map and a plain read: the same arrays, the same bytes.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import numpy as np  # imported in ``load``: ``artifacts`` (and the CLI) do without it

HUGE_PAGE = 2 << 20  # smaller files cannot hold one
_LINUX = hasattr(mmap, "MADV_HUGEPAGE") and hasattr(os, "posix_fadvise")


def _advise(m: mmap.mmap) -> None:
    try:
        m.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # THP off in this kernel: 4 KiB pages
        pass


def npy_header(fp: BinaryIO | mmap.mmap) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` whose header starts at ``fp``'s
    position (a file or a map); ``fp`` is left at the data."""
    import numpy as np

    major, _ = np.lib.format.read_magic(fp)
    read_header = (np.lib.format.read_array_header_1_0 if major == 1
                   else np.lib.format.read_array_header_2_0)
    return read_header(fp)


def load(path: str | Path, huge: bool = True) -> np.ndarray:
    """The array of the ``.npy`` file ``path``, memory-mapped read-only (in huge pages when
    ``huge`` and the system allows it). Raises as ``np.load`` does on a malformed file."""
    import numpy as np

    path = Path(path)
    if not (huge and _LINUX) or path.stat().st_size < HUGE_PAGE:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    _advise(m)  # before the header is read: a read() would cache its first pages small
    try:
        shape, fortran, dtype = npy_header(m)
    except ValueError:
        m.close()
        raise
    offset = m.tell()
    count = int(np.prod(shape, dtype=np.int64))
    if fortran or dtype.hasobject or offset + count * dtype.itemsize > len(m):
        m.close()  # numpy's own path: its checks and its messages
        return np.load(path, mmap_mode="r", allow_pickle=False)
    return np.frombuffer(m, dtype=dtype, count=count, offset=offset).reshape(shape)


def _write_out(fd: int) -> None:
    """Write the file's dirty pages and wait for them (``sync_file_range``): unlike ``fsync``,
    no journal commit, so it does not wait for other files' dirty data (an ``fsync`` right
    after lmplz wrote its ARPA added 8 s to a 6 s build)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    flags = 1 | 2 | 4  # SYNC_FILE_RANGE_WAIT_BEFORE | _WRITE | _WAIT_AFTER
    if libc.sync_file_range(fd, ctypes.c_int64(0), ctypes.c_int64(0), flags) != 0:
        os.fdatasync(fd)


def settle(path: str | Path) -> None:
    """Write out a file just written and drop its cached pages (``POSIX_FADV_DONTNEED``: clean
    pages no process maps), so the next huge-page map or ``sha256`` reads it in 2 MiB folios."""
    if not _LINUX:
        return
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size >= HUGE_PAGE:
            _write_out(f.fileno())
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def sha256(path: str | Path, chunk: int = 1 << 20, window: int = 32 * HUGE_PAGE) -> str:
    """The file's sha256, read through huge-page maps of ``window`` bytes at a time when it is
    large enough (then the page cache it leaves is in 2 MiB folios: see the module's
    docstring; one window at a time keeps the mapped, resident part small)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if not (_LINUX and size >= HUGE_PAGE):
            while block := f.read(chunk):
                h.update(block)
            return h.hexdigest()
        for start in range(0, size, window):
            with mmap.mmap(f.fileno(), min(window, size - start), access=mmap.ACCESS_READ,
                           offset=start) as m:
                _advise(m)
                view = memoryview(m)
                for i in range(0, len(m), chunk):
                    h.update(view[i:i + chunk])
                view.release()
    return h.hexdigest()
