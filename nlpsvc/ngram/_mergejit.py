"""The compiled k-way merge round of ``spill`` (numba), in a module of its own: importing numba
costs ~120 MB of RSS (llvmlite's library), so only a build that really merges runs loads it.
"""

from __future__ import annotations

import numba
import numpy as np


# Hand-written: merging k sorted slots is a loop over items with a data-dependent choice at
# each step; numpy would need a concatenation and a sort per round (several times the memory
# of the slots and O(n log n)); compiled, it is linear and works in the slots in place.
@numba.njit(cache=True, nogil=True)
def merge_round(keys: np.ndarray, counts: np.ndarray, payload: np.ndarray, pos: np.ndarray,
                end: np.ndarray, bound: int, out_k: np.ndarray, out_c: np.ndarray,
                out_p: np.ndarray, rank: np.ndarray, base: int) -> int:  # pragma: no cover
    """Merge the items <= ``bound`` of every slot into ``out_*`` (equal keys: counts summed,
    first payload kept); advances ``pos``; returns the number of items written. With a
    non-empty ``rank``, each consumed slot item gets its output row (``base`` + index)."""
    track = rank.shape[0] > 0
    k = pos.shape[0]
    n = 0
    while True:
        best = -1
        best_key = bound
        for i in range(k):
            if pos[i] < end[i]:
                v = keys[pos[i]]
                if v <= best_key and (best < 0 or v < best_key):
                    best = i
                    best_key = v
        if best < 0:
            return n
        j = pos[best]
        pos[best] = j + 1
        if n > 0 and out_k[n - 1] == best_key:
            out_c[n - 1] += counts[j]
        else:
            out_k[n] = best_key
            out_c[n] = counts[j]
            out_p[n] = payload[j]
            n += 1
        if track:
            rank[j] = base + n - 1
