"""The chatbot's word vocabulary: min-count trimming, ``<unk>`` for the rest, reserved ids.

The vocabulary is stored as JSON beside the weights, so the served model maps words to ids
exactly as training did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

PAD, SOS, EOS, UNK, SEP = "<pad>", "<s>", "</s>", "<unk>", "<sep>"
SPECIALS = (PAD, SOS, EOS, UNK, SEP)  # ids 0..4, in this order
PAD_ID, SOS_ID, EOS_ID, UNK_ID, SEP_ID = range(len(SPECIALS))


class VocabularyError(ValueError):
    """The data cannot give a usable vocabulary (too small, nothing above min-count)."""


class Vocab:
    """Word <-> id map. Words seen fewer than ``min_count`` times map to ``<unk>``.

    >>> v = Vocab.build([["hi", "there"], ["hi"]], min_count=2, min_words=1)
    >>> v.encode(["hi", "there"])
    [5, 3]
    >>> v.decode([5, 3, 2, 5])
    ['hi', '<unk>']
    """

    def __init__(self, words: list[str]) -> None:
        self.itos: list[str] = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(
        cls,
        sentences: Iterable[list[str]],
        *,
        min_count: int = 2,
        max_size: int | None = None,
        min_words: int = 10,
    ) -> Vocab:
        """Count words; keep those seen ``min_count`` times (most frequent first, ties by word)."""
        counts: Counter[str] = Counter()
        for tokens in sentences:
            counts.update(tokens)
        kept = [w for w, c in counts.items() if c >= min_count]
        kept.sort(key=lambda w: (-counts[w], w))
        if max_size is not None:
            kept = kept[:max_size]
        if len(kept) < min_words:
            raise VocabularyError(
                f"corpus too small for a chatbot vocabulary: {len(kept)} word(s) occur at least "
                f"{min_count} times ({len(counts)} distinct words in all), at least {min_words} "
                "needed; add dialogues or lower chatbot.min_count"
            )
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, tokens: list[str]) -> list[int]:
        return [self.stoi.get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words up to the first ``</s>``; ``<pad>``/``<s>`` dropped."""
        out = []
        for i in ids:
            if i == EOS_ID:
                break
            if i not in (PAD_ID, SOS_ID):
                out.append(self.itos[i])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"itos": self.itos}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocab:
        itos = data["itos"]
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError("chatbot vocabulary does not start with the reserved tokens")
        return cls(itos[len(SPECIALS):])
