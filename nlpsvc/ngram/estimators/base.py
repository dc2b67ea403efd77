"""The estimator contract: raw counts in, ARPA-semantics backoff tables out.

Each smoothing method is a strategy object separate from the query model (as nltk.lm's
``Smoothing`` and KenLM's estimation/query split). Parameters are stored by ``__init__`` without
logic and validated in ``estimate`` (fail fast, a clear ``ValueError`` naming the parameter).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from nlpsvc.ngram.tables import BackoffTables


class Estimator(ABC):
    """One smoothing method. ``Estimator(**params).fit(counts)`` or ``.estimate(counts, **p)``."""

    name: ClassVar[str] = ""
    proper: ClassVar[bool] = True  # False: scores are not probabilities (no perplexity)

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)

    @abstractmethod
    def estimate(self, counts: Any, **params: Any) -> BackoffTables:
        """Validate ``params`` and turn ``NgramCounts`` into ``BackoffTables``."""

    def fit(self, counts: Any) -> BackoffTables:
        """Estimate with the parameters given to the constructor."""
        return self.estimate(counts, **self.params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"
