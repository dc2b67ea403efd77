"""Per-stage progress of an n-gram build (count, adjust, estimate, write).

On a terminal each stage is a tqdm bar in tokens (so tqdm shows tokens/s); otherwise (logs,
CI, a service) each stage writes one line when it ends, with its size, time and rate: to the
``nlpsvc.ngram`` logger, or to stderr when progress was asked for and that logger is quiet
(``nlpsvc train`` without ``-v``).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

log = logging.getLogger("nlpsvc.ngram")


class Stage:
    """One build stage; ``update(n)`` as items are done, used as a context manager."""

    def __init__(self, name: str, total: int | None, unit: str, enabled: bool) -> None:
        self.name, self.total, self.unit, self.enabled = name, total, unit, enabled
        self.done = 0
        self.started = time.perf_counter()
        self.bar: Any = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=f"ngram: {name}", unit=f" {unit}",
                            unit_scale=True, leave=False)

    def update(self, n: int) -> None:
        self.done += int(n)
        if self.bar is not None:
            self.bar.update(int(n))

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self.bar is not None:
            self.bar.close()
        if exc_type is None:
            secs = time.perf_counter() - self.started
            rate = self.done / secs if secs > 0 else 0.0
            line = (f"ngram: {self.name}: {self.done} {self.unit} in {secs:.2f} s "
                    f"({rate:.0f} {self.unit}/s)")
            if self.enabled and self.bar is None and not log.isEnabledFor(logging.INFO):
                print(line, file=sys.stderr, flush=True)  # progress asked for, logs hidden
            else:
                log.info(line)
