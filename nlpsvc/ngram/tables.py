"""What every estimator produces: backoff tables in ARPA semantics.

log10 p(w | h) = logprob of the longest stored suffix n-gram of ``h w`` + the backoffs of the
contexts skipped on the way down (``missing_backoff`` for a context that is not stored: 0 in
ARPA semantics, log10(alpha) for stupid backoff, -inf for plain MLE). Every prefix of a stored
n-gram is itself stored. Shared by the estimators, the ARPA reader/writer and ``NgramModel``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class BackoffTables:
    """Per order ``o`` (index ``o-1``): ``grams`` (n_o, o) int32 ids into ``vocab``,
    ``logprob`` float64 log10 p of each n-gram, ``backoff`` float64 log10 backoff weight of the
    n-gram as a context (0.0 when it is none; all zeros at the top order).

    ``grams[0]`` lists every vocabulary id; ``vocab[0:3]`` are ``<unk>``, ``<s>``, ``</s>``.
    ``proper`` is False for estimators whose scores are not probabilities (stupid backoff).
    """

    vocab: list[str]
    grams: list[np.ndarray]
    logprob: list[np.ndarray]
    backoff: list[np.ndarray]
    missing_backoff: float = 0.0
    proper: bool = True
    smoothing: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def order(self) -> int:
        return len(self.grams)

    def __post_init__(self) -> None:
        n = len(self.grams)
        if n < 1 or len(self.logprob) != n or len(self.backoff) != n:
            raise ValueError("BackoffTables needs grams, logprob and backoff for each order")
        for o, (g, p, b) in enumerate(zip(self.grams, self.logprob, self.backoff, strict=True), 1):
            if g.ndim != 2 or g.shape[1] != o or p.shape != (g.shape[0],) or b.shape != p.shape:
                raise ValueError(f"BackoffTables: order {o} arrays have inconsistent shapes")

    def counts(self) -> list[int]:
        return [int(g.shape[0]) for g in self.grams]
