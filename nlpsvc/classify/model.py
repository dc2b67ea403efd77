"""The fastText classifier as an ``nn.Module``: mean of input rows -> dropout -> linear.

Pure module code; training lives in ``fasttext.py``. The config travels with the weights so a
checkpoint rebuilds the module alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class FastTextModuleConfig:
    num_rows: int  # rows of the input table (words + n-gram buckets, or the compacted rows)
    dim: int
    num_classes: int
    dropout: float = 0.0
    compact: bool = False  # True: ``row_map`` maps hashed ids to the kept rows (saved models)
    map_size: int = 0  # length of row_map when compact

    def to_dict(self) -> dict:
        return asdict(self)


class FastTextModule(nn.Module):
    """Average the rows of a text's words and n-grams, then one linear layer to class logits."""

    def __init__(self, config: FastTextModuleConfig, word_rows: int | None = None) -> None:
        super().__init__()
        self.config = config
        # sparse=True: a step touches only the rows in the batch, which is what makes SGD fast
        self.embedding = nn.EmbeddingBag(  # _weight given: skip the default normal_ init
            config.num_rows, config.dim, mode="mean", sparse=True,
            _weight=torch.empty(config.num_rows, config.dim),
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.dim, config.num_classes)
        self.row_map: torch.Tensor | None
        if config.compact:
            self.register_buffer("row_map", torch.zeros(config.map_size, dtype=torch.int64))
        else:
            self.row_map = None
        self.reset_parameters(word_rows)

    def reset_parameters(self, word_rows: int | None = None) -> None:
        """fastText's init: word rows uniform(±1/dim), output zero; n-gram rows start at zero
        so rows no training text touched stay zero and can be dropped when saving."""
        with torch.no_grad():
            w = self.embedding.weight
            n = w.shape[0] if word_rows is None else word_rows
            w[:n].uniform_(-1.0 / self.config.dim, 1.0 / self.config.dim)
            w[n:].zero_()
            self.output.weight.zero_()
            self.output.bias.zero_()

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """ids (N,) flat row ids, offsets (B,) bag starts -> logits (B, C)."""
        if self.row_map is not None:
            ids = self.row_map[ids]
        h = self.embedding(ids, offsets)  # (B, dim); an empty bag gives zeros -> bias only
        return self.output(self.dropout(h))  # (B, C)
