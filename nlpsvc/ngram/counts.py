"""Streaming, vectorised n-gram counting (orders 1..N) over a restartable corpus of token lists.

The corpus is read sentence by sentence into an int32 id buffer; every ``chunk_tokens`` ids the
buffer is counted with numpy and dropped, so memory holds ids of one chunk plus the n-gram
tables, never the corpus text. Counting uses a *prefix-id chain*: the key of an n-gram at a
position is ``index of its (n-1)-prefix in the unique (n-1)-gram table * V + last word``, which
is exact in 64 bits and sorts in lexicographic order, so one ``np.unique`` per order gives the
sorted table, the counts, and (via the inverse) the prefix indices for the next order.

With ``bos``/``eos`` each sentence is ``<s> w1 ... wn </s>`` with ONE ``<s>`` (as KenLM), and a
literal ``<s>`` or ``</s>`` inside the text is dropped (KenLM treats them as whitespace). With
both False the token lists are counted exactly as given (``<s>``/``</s>`` tokens then map to
their ids), which is how nltk.lm's ``pad_both_ends`` convention is reproduced.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from nlpsvc.ngram.vocab import BOS, BOS_ID, EOS, EOS_ID, UNK, UNK_ID, Vocabulary

DEFAULT_CHUNK_TOKENS = 1 << 22


@dataclass
class NgramCounts:
    """Raw n-gram counts of orders 1..order.

    ``grams[o-1]`` is an ``(n_o, o)`` int32 array of word ids, unique rows sorted
    lexicographically; ``counts[o-1]`` the matching int64 raw counts. ``grams[0]`` holds every
    vocabulary id (``arange(V)``), so some unigram counts may be 0 (``<unk>`` when nothing was
    unknown, ``<s>`` without ``bos``, words of a given word list never seen). Higher orders hold
    only n-grams seen at least once (after pruning, if any).
    """

    order: int
    vocab: Vocabulary
    grams: list[np.ndarray]
    counts: list[np.ndarray]
    sentences: int = 0  # sentences read (empty ones included)
    tokens: int = 0  # word tokens read (padding excluded)
    bos: bool = True
    eos: bool = True
    prune: list[int] = field(default_factory=list)  # raw-count thresholds applied, per order
    # parents[o-1][i]: row in grams[o-2] of the (o-1)-prefix of grams[o-1][i] (None for o=1);
    # filled by counting when it is free, else computed on demand by ``structure``.
    parents: list[np.ndarray | None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.grams) != self.order or len(self.counts) != self.order:
            raise ValueError("NgramCounts needs one grams and one counts array per order")

    def count_of(self, words: Sequence[str]) -> int:
        """Raw count of one n-gram given as words (0 when unseen); for tests and debugging."""
        o = len(words)
        if not 1 <= o <= self.order:
            return 0
        row = self.vocab.ids(list(words))
        table = self.grams[o - 1]
        hit = np.flatnonzero((table == row).all(axis=1))
        return int(self.counts[o - 1][hit[0]]) if hit.size else 0


def _check_prune(prune: Sequence[int] | None, order: int) -> list[int]:
    if not prune:
        return [0] * order
    vals = [int(x) for x in prune]
    if any(x < 0 for x in vals):
        raise ValueError(f"prune thresholds must be >= 0, got {list(prune)}")
    if vals[0] != 0:
        raise ValueError("unigram pruning is not supported: the first prune threshold must be 0")
    if any(b < a for a, b in zip(vals, vals[1:], strict=False)):
        raise ValueError(f"prune thresholds must be non-decreasing, got {vals}")
    vals = (vals + [vals[-1]] * order)[:order]
    return vals


def _is_one_shot(it: Iterable) -> bool:
    return iter(it) is it


def count_ngrams(
    sentences: Iterable[Sequence[str]],
    order: int,
    vocab: Vocabulary | Sequence[str] | None = None,
    *,
    min_count: int = 1,
    max_size: int | None = None,
    bos: bool = True,
    eos: bool = True,
    prune: Sequence[int] | None = None,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
) -> NgramCounts:
    """Count n-grams of orders 1..``order``.

    ``vocab``: a ``Vocabulary`` or a word list (other words become ``<unk>``), or None to build
    one from the corpus keeping words seen ``min_count`` times (at most ``max_size``, most
    frequent first). A vocabulary cut needs two passes, so ``sentences`` must then be
    restartable (a list or an object whose ``__iter__`` re-opens its source), not a generator.
    ``prune``: raw-count thresholds per order (``[0, 0, 1]`` drops trigrams seen once; the last
    value applies to higher orders), as ``lmplz --prune``; modified Kneser-Ney prunes inside the
    estimator instead, where KenLM does, so that its discounts see the full counts.
    """
    if not isinstance(order, int | np.integer) or isinstance(order, bool) or order < 1:
        raise ValueError(f"order must be an integer >= 1, got {order!r}")
    order = int(order)
    if chunk_tokens < 1:
        raise ValueError("chunk_tokens must be >= 1")
    thresholds = _check_prune(prune, order)
    vocab = resolve_vocab(sentences, vocab, min_count, max_size)
    counter = _ChunkCounter(order, vocab, bos, eos, chunk_tokens)
    for toks in sentences:
        counter.add(toks)
    result = counter.finish()
    check_counted(result.sentences, result.tokens)
    if any(thresholds):
        _apply_prune(result, thresholds)
    return result


def resolve_vocab(
    sentences: Iterable[Sequence[str]],
    vocab: Vocabulary | Sequence[str] | None,
    min_count: int,
    max_size: int | None,
) -> Vocabulary | None:
    """The fixed vocabulary to count with (None: grow it from the text in one pass).

    A cut (``min_count``/``max_size``) reads the corpus once more, first, to count words.
    """
    if isinstance(sentences, str | bytes):
        raise TypeError("sentences must be an iterable of token lists, not a string")
    if vocab is None and (min_count != 1 or max_size is not None):
        if _is_one_shot(sentences):
            raise ValueError(
                "a vocabulary cut (min_count/max_size) needs two passes over the corpus; pass a "
                "list or a restartable iterable, not a one-shot generator"
            )
        word_counts: Counter[str] = Counter()
        for toks in sentences:
            _check_sentence(toks)
            word_counts.update(toks)
        return Vocabulary.from_counts(word_counts, min_count=min_count, max_size=max_size)
    if vocab is not None and not isinstance(vocab, Vocabulary):
        return Vocabulary(vocab)
    return vocab


def check_counted(sentences: int, tokens: int) -> None:
    """The clear errors for a corpus with nothing to count."""
    if sentences == 0:
        raise ValueError("empty corpus: no sentences to count")
    if tokens == 0:
        raise ValueError("corpus has no non-empty sentence (every sentence has 0 tokens)")


def _check_sentence(toks: object) -> None:
    if isinstance(toks, str | bytes):
        raise TypeError(
            "each sentence must be a list of tokens, got a string; tokenize it first "
            "(nlpsvc.text.Tokenizer)"
        )


class _GrowingIndex(dict):
    """Word -> id, a new word getting the next id (``len``) on first lookup, so that mapping a
    sentence is one ``map(index.__getitem__, tokens)`` in C; Python runs only for new words."""

    def __missing__(self, word: str) -> int:
        self[word] = i = len(self)
        return i


class _ChunkCounter:
    """Buffers ids of a chunk of sentences, counts the chunk, merges chunk tables."""

    def __init__(
        self, order: int, vocab: Vocabulary | None, bos: bool, eos: bool, chunk_tokens: int
    ) -> None:
        self.order, self.bos, self.eos, self.chunk_tokens = order, bos, eos, chunk_tokens
        self.fixed = vocab is not None
        padded = bos or eos
        if vocab is not None:
            self.lookup = dict(vocab.index)
        else:
            self.lookup = _GrowingIndex({UNK: UNK_ID, BOS: BOS_ID, EOS: EOS_ID})
        if padded:  # literal sentence markers inside the text are dropped (ids < 0)
            self.lookup[BOS] = -1
            self.lookup[EOS] = -1
        self.vocab = vocab
        self.buf = array("i")
        self.lens = array("i")
        self.sentences = 0
        self.tokens = 0
        self.unigram = np.zeros(0, dtype=np.int64)
        self.tables: list[tuple[np.ndarray, np.ndarray]] | None = None  # orders >= 2
        self.parents: list[np.ndarray] = []  # prefix rows of the first chunk's tables
        self.merged = False

    def add(self, toks: Sequence[str]) -> None:
        _check_sentence(toks)
        d = self.lookup
        buf = self.buf
        if self.bos:
            buf.append(BOS_ID)
        if self.fixed:
            buf.extend(map(d.get, toks, repeat(UNK_ID)))
        else:
            buf.extend(map(d.__getitem__, toks))  # C-speed lookups; new words: __missing__
        if self.eos:
            buf.append(EOS_ID)
        self.lens.append(len(toks) + self.bos + self.eos)
        self.sentences += 1
        if len(buf) >= self.chunk_tokens:
            self._flush()

    def _vocab_size(self) -> int:
        return len(self.vocab) if self.vocab is not None else len(self.lookup)

    def _flush(self) -> None:
        if not self.lens:
            return
        ids = np.frombuffer(self.buf, dtype=np.int32).copy()
        lens = np.frombuffer(self.lens, dtype=np.int32).astype(np.int64)
        self.buf = array("i")
        self.lens = array("i")
        sid = np.repeat(np.arange(lens.size), lens)  # sentence of each position
        keep = ids >= 0
        if not keep.all():
            ids, sid = ids[keep], sid[keep]
            lens = np.bincount(sid, minlength=lens.size)
        padding = (self.bos + self.eos) * lens.size
        self.tokens += int(ids.size - padding)
        V = self._vocab_size()
        uni = np.bincount(ids, minlength=V).astype(np.int64)
        if self.unigram.size < V:
            self.unigram = np.concatenate([self.unigram, np.zeros(V - self.unigram.size, np.int64)])
        self.unigram += uni
        if self.order == 1:
            return
        ends = np.cumsum(lens)
        rem = ends[sid] - np.arange(ids.size)  # tokens from each position to its sentence end
        self._consume(ids, rem, V)

    def _consume(self, ids: np.ndarray, rem: np.ndarray, V: int) -> None:
        """Count one chunk of ids (``rem``: tokens left to each position's sentence end) and
        merge it into the tables; the bounded build overrides this to spill ids to disk."""
        chunk, parents = _count_chunk(ids, rem, self.order, V)
        if self.tables is None:
            self.parents = parents
        if self.tables is None:
            self.tables = chunk
        else:
            self.tables = _merge_tables(self.tables, chunk, V)
            self.merged = True

    def final_vocab(self) -> Vocabulary:
        """The vocabulary counted with: the given one, or the words in order of appearance."""
        if self.vocab is None:
            words = list(self.lookup)[3:]
            self.vocab = Vocabulary(words)
        return self.vocab

    def finish(self) -> NgramCounts:
        self._flush()
        self.final_vocab()
        V = len(self.vocab)
        unigram = np.zeros(V, dtype=np.int64)
        unigram[: self.unigram.size] = self.unigram
        grams = [np.arange(V, dtype=np.int32)[:, None]]
        counts = [unigram]
        for o in range(2, self.order + 1):
            if self.tables is None:
                grams.append(np.zeros((0, o), dtype=np.int32))
                counts.append(np.zeros(0, dtype=np.int64))
            else:
                rows, cnt = self.tables[o - 2]
                grams.append(rows)
                counts.append(cnt)
        parents = None
        if not self.merged and self.tables is not None:
            parents = [None, *self.parents]
        return NgramCounts(
            parents=parents,
            order=self.order,
            vocab=self.vocab,
            grams=grams,
            counts=counts,
            sentences=self.sentences,
            tokens=self.tokens,
            bos=self.bos,
            eos=self.eos,
        )


def _count_chunk(
    ids: np.ndarray, rem: np.ndarray, order: int, V: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[np.ndarray]]:
    """Tables (rows, counts) for orders 2..order of one chunk via the prefix-id chain, and the
    parent (prefix row) index of every row."""
    out = []
    parents = []
    prev_idx = ids.astype(np.int64)  # index of the (o-1)-gram starting at each position
    prev_rows = None
    pos = np.arange(ids.size)
    for o in range(2, order + 1):
        pos = pos[rem[pos] >= o]  # windows of length o that stay inside their sentence
        if pos.size == 0:
            for oo in range(o, order + 1):
                out.append((np.zeros((0, oo), np.int32), np.zeros(0, np.int64)))
                parents.append(np.zeros(0, np.int64))
            break
        keys = prev_idx[pos] * V + ids[pos + o - 1]
        last_order = o == order
        if last_order:
            keys.sort()
            flag = np.empty(keys.size, dtype=bool)
            flag[0] = True
            np.not_equal(keys[1:], keys[:-1], out=flag[1:])
            starts = np.flatnonzero(flag)
            uniq = keys[starts]
            cnt = np.diff(np.append(starts, keys.size)).astype(np.int64)
        else:
            uniq, inv, cnt = np.unique(keys, return_inverse=True, return_counts=True)
            cnt = cnt.astype(np.int64)
        prefix = uniq // V
        last = (uniq % V).astype(np.int32)
        if prev_rows is None:
            rows = np.stack([prefix.astype(np.int32), last], axis=1)
        else:
            rows = np.concatenate([prev_rows[prefix], last[:, None]], axis=1)
        out.append((rows, cnt))
        parents.append(prefix)
        if not last_order:
            nxt = np.full(ids.size, -1, dtype=np.int64)
            nxt[pos] = inv.reshape(-1)
            prev_idx = nxt
            prev_rows = rows
    return out, parents


def unique_rows(rows: np.ndarray, V: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique rows, inverse) of an int id matrix, by the prefix-id chain."""
    n, o = rows.shape
    key = rows[:, 0].astype(np.int64)
    for j in range(1, o):
        _, inv = np.unique(key, return_inverse=True)
        key = inv.reshape(-1).astype(np.int64) * V + rows[:, j]
    uniq_keys, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return rows[first], inv.reshape(-1)


def _merge_tables(
    a: list[tuple[np.ndarray, np.ndarray]], b: list[tuple[np.ndarray, np.ndarray]], V: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for (ra, ca), (rb, cb) in zip(a, b, strict=True):
        rows = np.concatenate([ra, rb])
        cnt = np.concatenate([ca, cb])
        if rows.shape[0] == 0:
            out.append((rows, cnt))
            continue
        urows, inv = unique_rows(rows, V)
        out.append((urows.astype(np.int32), np.bincount(inv, weights=cnt).astype(np.int64)))
    return out


def _apply_prune(counts: NgramCounts, thresholds: list[int]) -> None:
    """Drop n-grams (order >= 2) with raw count <= threshold; keeps prefixes/suffixes closed
    because raw counts never grow with order and thresholds never shrink."""
    for o in range(2, counts.order + 1):
        t = thresholds[o - 1]
        if t > 0:
            keep = counts.counts[o - 1] > t
            counts.grams[o - 1] = counts.grams[o - 1][keep]
            counts.counts[o - 1] = counts.counts[o - 1][keep]
    counts.prune = thresholds
    counts.parents = None


@dataclass
class Structure:
    """Index plumbing of a prefix- and suffix-closed n-gram table set (orders 1..N).

    ``keys[o-1]``: sorted chain keys (``parent * V + last word``; the word id at order 1);
    ``parents[o-1]`` / ``suffixes[o-1]``: row of the (o-1)-prefix / (o-1)-suffix of each row
    (None at order 1). Estimators use it to find contexts and lower-order distributions.
    """

    V: int
    keys: list[np.ndarray]
    parents: list[np.ndarray | None]
    suffixes: list[np.ndarray | None]


def structure(grams: list[np.ndarray], V: int, parents: list | None = None) -> Structure:
    """Chain keys, parent and suffix rows of sorted, prefix/suffix-closed ``grams``."""
    keys = [grams[0][:, 0].astype(np.int64)]
    pars: list[np.ndarray | None] = [None]
    sufs: list[np.ndarray | None] = [None]
    for o in range(2, len(grams) + 1):
        g = grams[o - 1]
        if parents is not None and parents[o - 1] is not None:
            par = np.asarray(parents[o - 1], dtype=np.int64)
        else:
            par = _find(keys, g[:, :-1], V)
            if (par < 0).any():
                bad = g[int(np.flatnonzero(par < 0)[0])].tolist()
                raise ValueError(f"n-gram {bad} is stored but its prefix is not")
        last = g[:, -1].astype(np.int64)
        keys.append(par * V + last)
        if o == 2:
            suf_key = last
        else:
            suf_key = sufs[o - 2][par] * V + last
        suf = np.searchsorted(keys[o - 2], suf_key)
        suf_c = np.minimum(suf, max(keys[o - 2].size - 1, 0))
        if g.shape[0] and not (keys[o - 2][suf_c] == suf_key).all():
            bad = g[int(np.flatnonzero(keys[o - 2][suf_c] != suf_key)[0])].tolist()
            raise ValueError(f"n-gram {bad} is stored but its suffix is not")
        pars.append(par)
        sufs.append(suf_c)
    return Structure(V=V, keys=keys, parents=pars, suffixes=sufs)


def _find(keys: list[np.ndarray], rows: np.ndarray, V: int) -> np.ndarray:
    """Row index of each n-gram of ``rows`` (n, m) at order m, -1 when absent."""
    n, m = rows.shape
    idx = np.zeros(n, dtype=np.int64)
    ok = np.ones(n, dtype=bool)
    for j in range(m):
        k = keys[j]
        target = rows[:, j].astype(np.int64) if j == 0 else idx * V + rows[:, j]
        pos = np.searchsorted(k, target)
        pos_c = np.minimum(pos, max(k.size - 1, 0))
        ok &= (pos < k.size) & (k[pos_c] == target) if k.size else False
        idx = np.where(ok, pos_c, 0)
    return np.where(ok, idx, -1)
