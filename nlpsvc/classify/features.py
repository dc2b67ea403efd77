"""Text -> bag of row ids for the fastText-style model: word ids plus hashed word n-grams.

Hashing must be identical in every process and on every machine (a model trained in one process
is served by others), so Python's salted ``hash()`` is never used. A word hashes with 32-bit
FNV-1a over its UTF-8 bytes (fastText's word hash, without its signed-char quirk); an n-gram
combines its words' hashes as fastText does, ``h = h * 116049371 + next`` in 64-bit arithmetic,
and lands in ``nwords + h % buckets``. Everything after tokenisation is vectorised with numpy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from nlpsvc.text import TextConfig, Tokenizer

FNV_OFFSET = np.uint32(2166136261)
FNV_PRIME = np.uint32(16777619)
NGRAM_PRIME = np.uint64(116049371)
EOS = "</s>"


def fnv1a_32(words: list[str]) -> np.ndarray:
    """32-bit FNV-1a hash of each word's UTF-8 bytes, vectorised over the words.

    A lone surrogate (valid in JSON, ``"\\ud800"``, but not in UTF-8) hashes its surrogate-pass
    bytes: no error, and no collision with any real character.
    """
    n = len(words)
    out = np.full(n, FNV_OFFSET, dtype=np.uint32)
    if n == 0:
        return out
    encoded = [w.encode("utf-8", "surrogatepass") for w in words]
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=n)
    order = np.argsort(-lengths, kind="stable")  # longest first: active rows are a prefix
    flat = np.frombuffer(b"".join(encoded[i] for i in order), dtype=np.uint8).astype(np.uint32)
    sorted_len = lengths[order]
    starts = np.concatenate(([0], np.cumsum(sorted_len)[:-1]))
    h = out.copy()
    # active[j] = how many words are longer than j (sorted_len is non-increasing)
    active = np.searchsorted(-sorted_len, -np.arange(int(sorted_len[0]) if n else 0), "left")
    with np.errstate(over="ignore"):
        for j, k in enumerate(active):
            h[:k] = (h[:k] ^ flat[starts[:k] + j]) * FNV_PRIME
    out[order] = h
    return out


def ngram_hashes(word_hash: np.ndarray, ends: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every n-gram (of exactly ``n`` words) that stays inside one text.

    ``word_hash``: the hash of each token of all texts concatenated; ``ends[i]``: the end index
    (exclusive) of the text token ``i`` belongs to. Returns (start position, 64-bit hash).
    """
    pos = np.arange(len(word_hash) - n + 1, dtype=np.int64)
    pos = pos[pos + n <= ends[pos]] if len(pos) else pos
    h = word_hash[pos].astype(np.uint64)
    with np.errstate(over="ignore"):
        for j in range(1, n):
            h = h * NGRAM_PRIME + word_hash[pos + j].astype(np.uint64)
    return pos, h


@dataclass
class Bags:
    """Row ids of a batch of texts in EmbeddingBag form (flat ids + start offsets)."""

    ids: np.ndarray  # (total,) int64
    offsets: np.ndarray  # (n_texts,) int64
    empty: np.ndarray  # (n_texts,) bool: no token after tokenisation

    def __len__(self) -> int:
        return len(self.offsets)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(np.append(self.offsets, len(self.ids)))

    def take(self, index: np.ndarray) -> Bags:
        """The bags of texts ``index``, in that order (vectorised gather)."""
        lengths = self.lengths[index]
        new_offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        gather = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(
            self.offsets[index] - new_offsets, lengths
        )
        return Bags(self.ids[gather], new_offsets, self.empty[index])


class Featurizer:
    """Vocabulary of words plus hashed word n-gram buckets (fastText's input layer)."""

    def __init__(
        self, text: TextConfig, *, word_ngrams: int, buckets: int, vocab: list[str] | None = None,
        eos: bool = False,
    ) -> None:
        self.text = text
        # fastText ends every line with the word "</s>": a row shared by all texts (a learned
        # offset of the text vector) that also forms an n-gram with the last word. Blank texts
        # get none, so they stay classified from the bias alone.
        self.eos = eos
        self.tokenizer = Tokenizer(text)
        self.word_ngrams = word_ngrams
        self.buckets = buckets
        self.vocab: list[str] = list(vocab or [])
        self.index = {w: i for i, w in enumerate(self.vocab)}

    @property
    def num_rows(self) -> int:
        """Rows of the embedding table: words, then buckets (none when only unigrams)."""
        return len(self.vocab) + (self.buckets if self.word_ngrams > 1 else 0)

    def fit(self, texts: Iterable[str], min_count: int = 1) -> Featurizer:
        return self.fit_tokens((self.tokenizer(t) for t in texts), min_count)

    def fit_tokens(self, docs: Iterable[list[str]], min_count: int = 1) -> Featurizer:
        """Keep words seen at least ``min_count`` times, most frequent first (ties by word)."""
        counts: Counter[str] = Counter()
        for d in docs:
            counts.update(d)
            if self.eos and d:
                counts[EOS] += 1
        kept = [(c, w) for w, c in counts.items() if c >= min_count]
        self.vocab = [w for _, w in sorted(kept, key=lambda cw: (-cw[0], cw[1]))]
        self.index = {w: i for i, w in enumerate(self.vocab)}
        return self

    def transform(self, texts: list[str]) -> Bags:
        return self.transform_tokens(self.tokenizer.tokenize_many(texts))

    def transform_tokens(self, docs: list[list[str]]) -> Bags:
        empty = np.fromiter((not d for d in docs), dtype=bool, count=len(docs))
        if self.eos:
            docs = [[*d, EOS] if d else d for d in docs]
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        local: dict[str, int] = {}
        codes = np.fromiter(
            (local.setdefault(t, len(local)) for d in docs for t in d),
            dtype=np.int64, count=int(lengths.sum()),
        )
        uniq = list(local)
        uniq_ids = np.fromiter((self.index.get(w, -1) for w in uniq), dtype=np.int64,
                               count=len(uniq))
        doc_of = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        word_ids = uniq_ids[codes]
        keep = word_ids >= 0  # out-of-vocabulary words have no row (their n-grams still hash)
        parts_ids, parts_doc = [word_ids[keep]], [doc_of[keep]]
        if self.word_ngrams > 1 and len(codes):
            word_hash = fnv1a_32(uniq)[codes]
            ends = np.repeat(np.cumsum(lengths), lengths)
            for n in range(2, self.word_ngrams + 1):
                pos, h = ngram_hashes(word_hash, ends, n)
                parts_ids.append(len(self.vocab) + (h % np.uint64(self.buckets)).astype(np.int64))
                parts_doc.append(doc_of[pos])
        ids = np.concatenate(parts_ids)
        doc = np.concatenate(parts_doc)
        order = np.argsort(doc, kind="stable")
        counts = np.bincount(doc, minlength=len(docs))
        offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        return Bags(ids[order], offsets, empty)
