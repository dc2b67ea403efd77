"""Read-only maps of a model's ``.npy`` files in 2 MiB pages, where Linux allows it.

Why: a query reads a few random rows of tables of hundreds of MB. In 4 KiB pages each of those
reads is also a TLB miss, and a page walk (two levels of them under a hypervisor): with every
row in the CPU caches, half of the scoring loop's time on the 13.2M-token order-5 model went to
the walks (measured with ``perf``: the samples sat on the slot prefetches). 2 MiB pages let the
TLB cover the whole model.

How: Linux maps a file's page-cache folios of 2 MiB with one entry when the mapping asked for
huge pages (``MADV_HUGEPAGE``) before its pages were read, on file systems with large folios
(ext4, xfs: kernel 6.x). Pages already cached in small folios would stay small, so the cached
pages of the file that no process maps are dropped first (``POSIX_FADV_DONTNEED`` drops only
clean, unmapped pages: another worker's mapping keeps its pages, and the next read fetches the
rest again, as large folios). Pages are read on first touch, as with any map; workers share them.

Anywhere else (another OS, file system or kernel, a small file) this is a plain read-only map:
the same array, the same bytes.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

HUGE_PAGE = 2 << 20  # smaller files cannot hold one
_CAN = hasattr(mmap, "MADV_HUGEPAGE") and hasattr(os, "posix_fadvise")


def load(path: str | Path, huge: bool = True) -> np.ndarray:
    """The array of the ``.npy`` file ``path``, memory-mapped read-only (in huge pages when
    ``huge`` and the system allows it). Raises as ``np.load`` does on a malformed file."""
    path = Path(path)
    if not (huge and _CAN) or path.stat().st_size < HUGE_PAGE:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    with open(path, "rb") as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if major == 1
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
        count = int(np.prod(shape, dtype=np.int64))
        if fortran or dtype.hasobject or offset + count * dtype.itemsize > os.fstat(
                f.fileno()).st_size:  # numpy's own path: its checks and its messages
            return np.load(path, mmap_mode="r", allow_pickle=False)
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        m.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # THP off in this kernel: 4 KiB pages
        pass
    return np.frombuffer(m, dtype=dtype, count=count, offset=offset).reshape(shape)
