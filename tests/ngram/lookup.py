"""log10 p(w | h) from an estimator's tables, asked of the query model (``NgramModel``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nlpsvc.ngram.model import NgramModel
from nlpsvc.ngram.tables import BackoffTables


class TableQuery:
    """Words as strings (OOV → ``<unk>``), histories used as given."""

    def __init__(self, tables: BackoffTables) -> None:
        self.t = tables
        # float64: these tests check the estimators' arithmetic (to 1e-9..1e-12), which the
        # float32 a saved model stores would blur; the stored float32 is tested in test_engine
        self.model = NgramModel.from_tables(tables, dtype=np.float64)
        self.ids = {w: i for i, w in enumerate(tables.vocab)}

    def id(self, word: str) -> int:
        return self.ids.get(word, 0)

    def log10(self, words: Sequence[str], context: Sequence[str]) -> np.ndarray:
        """log10 p(w | context) for each w in ``words``."""
        every = self.model.next_logprobs(list(context))
        return every[[self.id(w) for w in words]]
