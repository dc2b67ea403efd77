"""The build's memory budget (``ngram.memory``): parsing "1G" / "500M" / "80%" and block sizes.

The bounded build (``nlpsvc.ngram.build``) sorts, merges and estimates in blocks sized from the
budget, as ``lmplz -S`` does. The budget covers those blocks; the per-order arrays the build
must index at random (probabilities of the order below, continuation counts: 8 bytes per n-gram
of two adjacent orders) and the interpreter itself are the fixed overhead on top of it.
"""

from __future__ import annotations

import os
import re

DEFAULT_MEMORY = "1G"
MIN_BUDGET = 64 << 10  # smallest budget: one sorted block of MIN_BLOCK items must fit
MIN_BLOCK = 1024  # items in the smallest sorted block (counting, merging, estimating)

# Working-set bytes per item of each blocked stage (measured from the numpy temporaries).
COUNT_BYTES = 64  # per corpus position: ids, window keys, argsort, inverse, first-occurrences
MERGE_BYTES = 48  # per merged item held in the k-way merge buffers and their concatenation
ESTIMATE_BYTES = 96  # per n-gram row: key, adjusted count, suffix, discount, probabilities

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


def block_items(budget: int, bytes_per_item: int, reserved: int = 0) -> int:
    """Items per block so that one block's working set fits in ``budget - reserved``."""
    return max(MIN_BLOCK, (budget - reserved) // bytes_per_item)
