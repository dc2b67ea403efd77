"""The build's memory budget (``ngram.memory``): parsing "1G" / "500M" / "80%" and block sizes.

The bounded build (``nlpsvc.ngram.build``) sorts, merges and estimates in blocks sized from the
budget, as ``lmplz -S`` does: each block gets what the budget leaves after the process's
resident set (interpreter, libraries, word index) and the per-order arrays the build must index
at random (probabilities of the order below, continuation counts: 8 bytes per n-gram of two
adjacent orders). When the budget is smaller than those, blocks get a quarter of the budget,
so the peak is the fixed overhead plus at most the budget.
"""

from __future__ import annotations

import os
import re
from typing import Any

DEFAULT_MEMORY = "1G"
MIN_BUDGET = 64 << 10  # smallest budget: one sorted block of MIN_BLOCK items must fit
MIN_BLOCK = 1024  # items in the smallest sorted block (counting, merging, estimating)

# Working-set bytes per item of each blocked stage (measured from the numpy temporaries).
COUNT_BYTES = 56  # per corpus position: ids, window keys, suffixes, argsort, sorted keys
MERGE_BYTES = 40  # per buffered item of the k-way merge: input slots and the output round
ESTIMATE_BYTES = 120  # per n-gram row: key, adjusted count, suffix, discount, probabilities
# Larger blocks than these gain little time (the merge is linear) and would only raise the
# peak above lmplz's at the same budget, so a large budget is not used up for its own sake.
MAX_COUNT_BLOCK = 1 << 20
MAX_ESTIMATE_BLOCK = 1 << 18
MAX_MERGE_BYTES = 16 << 20  # all slots of one k-way merge together (a linear pass: small is fine)

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$", re.I)
_PCT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


class BudgetError(ValueError):
    """A memory budget that cannot be parsed or is too small to hold one sorted block."""


def physical_memory() -> int:
    """Bytes of RAM of this machine (for "80%" budgets)."""
    return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))


def format_bytes(n: int) -> str:
    """Shortest exact-ish spelling a budget setting accepts back (``64K``, ``1.5G``)."""
    for unit in ("T", "G", "M", "K"):
        size = _UNITS[unit]
        if n >= size:
            value = n / size
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return str(n)


def parse_memory(value: str | int, setting: str = "ngram.memory") -> int:
    """Bytes of a budget: an int (bytes), "500M", "1G", "2.5G" (binary units) or "80%" of RAM.

    Raises ``BudgetError`` naming ``setting`` and the minimum when the budget is below it.
    """
    if isinstance(value, bool):
        raise BudgetError(f"{setting} must be a size such as '1G', '500M' or '80%', got {value!r}")
    if isinstance(value, int):
        nbytes = value
    elif isinstance(value, str) and (m := _PCT_RE.match(value)):
        pct = float(m.group(1))
        if not 0 < pct <= 100:
            raise BudgetError(f"{setting}={value!r}: a percentage must be in (0, 100]")
        nbytes = int(physical_memory() * pct / 100)
    elif isinstance(value, str) and (m := _SIZE_RE.match(value)):
        nbytes = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    else:
        raise BudgetError(f"{setting} must be a size such as '1G', '500M' or '80%', got {value!r}")
    if nbytes < MIN_BUDGET:
        raise BudgetError(
            f"{setting}={value!r} is too small: the smallest sorted block needs "
            f"{format_bytes(MIN_BUDGET)} (set {setting}={format_bytes(MIN_BUDGET)} or more)"
        )
    return nbytes


def resident_bytes() -> int:
    """This process's resident set now (Linux ``/proc/self/statm``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        return 0


def release_memory() -> None:
    """Hand freed heap pages back to the OS (glibc ``malloc_trim``) between blocks.

    glibc raises its mmap threshold after large frees, so numpy's block temporaries come from
    the heap and stay resident after they are freed; the next block would be sized from a
    resident set inflated by garbage. A no-op where glibc is absent.
    """
    global _TRIM
    if _TRIM is None:
        try:
            import ctypes

            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM: Any = None


def free_bytes(budget: int, reserved: int = 0) -> int:
    """What a block may use: the budget less the resident set and ``reserved``, but never less
    than a quarter of the budget (below the interpreter's own footprint the build still runs,
    in blocks of a quarter of the budget: the peak is then the fixed overhead plus those)."""
    release_memory()
    return max(budget // 4, budget - resident_bytes() - reserved)


def block_items(budget: int, bytes_per_item: int, reserved: int = 0,
                cap: int | None = None) -> int:
    """Items per block so that the process (its resident set now, plus ``reserved`` bytes it
    is about to hold, plus one block's working set) stays within ``budget``; at least
    ``MIN_BLOCK``, at most ``cap``."""
    free = free_bytes(budget, reserved)
    n = max(MIN_BLOCK, free // bytes_per_item)
    return int(min(n, cap)) if cap else int(n)
