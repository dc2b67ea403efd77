"""Training text as the LSTM sees it: one running stream of ids cut into BPTT batches.

Each sentence is ``<s> w1 .. wn </s>``, so the input at a sentence's first word is ``<s>``, as
when a sentence is scored on its own. The vocabulary is the n-gram model's
(``nlpsvc.ngram.vocab``: ids 0, 1, 2 are ``<unk>``, ``<s>``, ``</s>``; a literal ``<unk>`` is the
unknown class), so both models flag the same words as OOV on the same text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from nlpsvc.ngram.vocab import BOS_ID, EOS_ID, SPECIALS, UNK, Vocabulary

MIN_WORDS = 1  # a vocabulary needs at least one real word besides the specials


class CorpusTooSmall(ValueError):
    """The training text does not fill one BPTT batch."""


def build_vocab(sentences: Iterable[Sequence[str]], min_count: int = 1,
                max_size: int | None = None) -> Vocabulary:
    """Words seen ``min_count`` times (at most ``max_size``), most frequent first."""
    counts: Counter[str] = Counter()
    for s in sentences:
        counts.update(s)
    counts.pop(UNK, None)  # a literal <unk> is the unknown class, id 0, already present
    # most frequent first (ties in first-seen order): the adaptive softmax's clusters cut ids
    ranked = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    vocab = Vocabulary.from_counts(ranked, min_count=min_count, max_size=max_size)
    if len(vocab) - len(SPECIALS) < MIN_WORDS:
        raise CorpusTooSmall("the LSTM vocabulary is empty: no training word is frequent enough "
                             f"(lstm.min_count = {min_count})")
    return vocab


def stream_ids(sentences: Iterable[Sequence[str]], vocab: Vocabulary) -> Tensor:
    """The running text as one int64 tensor: ``<s> w.. </s> <s> w.. </s> ...``."""
    def ids() -> Iterator[int]:
        for s in sentences:
            yield BOS_ID
            yield from (vocab.id(t) for t in s)
            yield EOS_ID

    return torch.tensor(list(ids()), dtype=torch.long)


@dataclass
class BpttBatches:
    """``data`` (N, B): B parallel streams of the running text, read ``bptt`` rows at a time.

    Targets are the next rows; a target ``<s>`` (the sentence after a ``</s>``) is masked out of
    the loss: sentence starts are given, not predicted (the scoring convention).
    """

    data: Tensor
    bptt: int

    @classmethod
    def from_stream(cls, stream: Tensor, batch_size: int, bptt: int) -> BpttBatches:
        need = batch_size * (bptt + 1)
        if stream.numel() < need:
            raise CorpusTooSmall(
                f"the training text has {stream.numel()} positions (words plus <s> and </s>), "
                f"fewer than one BPTT batch needs: lstm.batch_size x (lstm.bptt + 1) = "
                f"{batch_size} x {bptt + 1} = {need}; use a larger corpus or lower lstm.batch_size"
                " / lstm.bptt")
        n = stream.numel() // batch_size
        return cls(stream[: n * batch_size].view(batch_size, n).t().contiguous(), bptt)

    def __len__(self) -> int:
        return (self.data.size(0) - 2) // self.bptt + 1

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(0, self.data.size(0) - 1, self.bptt):
            n = min(self.bptt, self.data.size(0) - 1 - i)
            yield self.data[i: i + n], self.data[i + 1: i + 1 + n]

    def tokens(self) -> int:
        """Target tokens per epoch (``<s>`` targets excluded)."""
        return int((self.data[1:] != BOS_ID).sum())
