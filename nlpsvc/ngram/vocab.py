"""Word <-> id mapping shared by counting, estimation and querying.

Ids 0, 1, 2 are always ``<unk>``, ``<s>`` and ``</s>`` (as in KenLM). A literal ``<unk>`` token
in training or query text *is* the unknown-word class (SRILM's convention): it maps to id 0, so
corpora that were already unk-ified (such as PTB) train the same ``<unk>`` the model uses for
unseen words. KenLM refuses a literal ``<unk>``; to compare with KenLM, rename it first (the
reference models use ``<unk_lit>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
SPECIALS = (UNK, BOS, EOS)


class Vocabulary:
    """An ordered word list with ids; unknown words map to ``UNK_ID``.

    >>> v = Vocabulary(["the", "cat"])
    >>> v.ids(["the", "dog", "<unk>"]).tolist()
    [3, 0, 0]
    >>> len(v), v.words[:3]
    (5, ['<unk>', '<s>', '</s>'])
    """

    def __init__(self, words: Iterable[str] = ()) -> None:
        self.words: list[str] = list(SPECIALS)
        self.index: dict[str, int] = {w: i for i, w in enumerate(SPECIALS)}
        for w in words:
            if w not in self.index:
                self.index[w] = len(self.words)
                self.words.append(w)

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        *,
        min_count: int = 1,
        max_size: int | None = None,
    ) -> Vocabulary:
        """Keep words seen at least ``min_count`` times, at most ``max_size`` of them.

        Most frequent first when ``max_size`` cuts; ties keep first-seen order (the order of
        ``counts``), so the result is deterministic. ``max_size`` excludes the three specials.
        """
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < 0:
            raise ValueError(f"max_size must be >= 0, got {max_size}")
        kept = [(w, c) for w, c in counts.items() if c >= min_count and w not in SPECIALS]
        if max_size is not None and len(kept) > max_size:
            order = sorted(range(len(kept)), key=lambda i: -kept[i][1])[:max_size]
            kept = [kept[i] for i in sorted(order)]
        return cls(w for w, _ in kept)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words)"

    def id(self, word: str) -> int:
        return self.index.get(word, UNK_ID)

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """Token ids as int32; unknown words (and a literal ``<unk>``) become 0."""
        get = self.index.get
        return np.fromiter((get(t, UNK_ID) for t in tokens), dtype=np.int32, count=len(tokens))

    def word(self, i: int) -> str:
        return self.words[i]
