"""log10 p(w | h) from BackoffTables for tests, through the same ARPA query the model uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nlpsvc.ngram.estimators._ops import NgramIndex, query
from nlpsvc.ngram.tables import BackoffTables


class TableQuery:
    """Batch ARPA queries over ``BackoffTables`` by word strings (OOV → ``<unk>``)."""

    def __init__(self, tables: BackoffTables) -> None:
        self.t = tables
        self.ids = {w: i for i, w in enumerate(tables.vocab)}
        self.index = NgramIndex(tables.grams, len(tables.vocab))

    def id(self, word: str) -> int:
        return self.ids.get(word, 0)

    def log10(self, words: Sequence[str], context: Sequence[str]) -> np.ndarray:
        """log10 p(w | context) for each w in ``words``."""
        h = [self.id(x) for x in context]
        q = np.array([[*h, self.id(w)] for w in words], dtype=np.int64)
        return query(self.index, self.t.logprob, self.t.backoff, q, self.t.missing_backoff)
