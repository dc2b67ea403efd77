"""The query side of n-gram LMs: a compact, mmap-able backoff model with a compiled scorer.

Built from ``BackoffTables`` (any estimator, or an ARPA file) and shares nothing else with
estimation (as KenLM's query/estimation split). Layout, per order o:

* order 1: arrays indexed by word id (``logprob``, ``backoff``);
* order o >= 2: ``keys[o]`` sorted int64 = row of the (o-1)-prefix in order o-1 * V + last word
  id, with ``logprob[o]`` and (below the top order) ``backoff[o]`` in the same order, and
  ``probe<o>.npy``, a linear-probing hash table from the n-gram to its row
  (``nlpsvc.ngram.probing``): O(1) lookups.

Saved, an order's arrays are one file of records (``ngrams<o>.npy``, ``nlpsvc.ngram.records``:
a row's key, log prob and backoff on one cache line); loaded, they are views into it.

``logprob`` and ``backoff`` are float32 (``STORE``), as KenLM stores them: half the size on disk
and in the CPU caches, each value within 2**-24 relative of the estimator's (float64); scores
are summed in float64. Folders saved in float64 before still load and score with their values.

Every file is a ``.npy`` memory-mapped on load: workers share the pages, and nothing is
rebuilt (a model saved before the tables existed gets them built in memory on load). Scoring,
one sentence or a batch, is one call of a numba kernel (``nlpsvc.ngram.kernel``) that also maps
the tokens to ids (``nlpsvc.ngram.wordids``): ARPA semantics, the same numbers as KenLM's
``full_scores`` (log10 prob, n-gram length matched, OOV flag). All probabilities log10.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from itertools import chain, repeat
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from nlpsvc import hugemap
from nlpsvc.ngram import probing, records, wordids
from nlpsvc.ngram.tables import BackoffTables
from nlpsvc.ngram.vocab import BOS_ID, EOS, EOS_ID, SPECIALS, UNK_ID, Vocabulary

FORMAT = "nlpsvc-ngram"
FORMAT_VERSION = 2  # v2: ``records``, one file per order (v1: one per array, still read)
READS = (1, 2)
HEADER = "header.json"
BATCH_SENTENCES = 4096  # evaluate() scores this many sentences per kernel call
# ... and a batch goes to the kernel CHUNK sentences at a time: their text (~64 KB of AG News
# lines) is joined in the malloc heap and read back from L2, where a batch's text in one piece
# takes fresh pages, faulted in one by one (measured: joining AG News test whole costs ~3.4 ns
# a token, in chunks of 200-500 lines 0.3-0.5)
CHUNK = 256
# dtype of the stored log10 probabilities and backoffs, as KenLM's (half float64's size on
# disk and in the cache; scores are still summed in float64). Models saved in float64 before
# this still load and score with their own values (the kernel reads either).
STORE = np.float32
_NO_F64 = np.empty(0, dtype=np.float64)  # per-token outputs when none are asked for
_NO_I64 = np.empty(0, dtype=np.int64)
_NO_BOOL = np.empty(0, dtype=np.bool_)


def _load_kernel() -> ModuleType:
    """``nlpsvc.ngram.kernel``, imported by the first model that scores (``_kernel_desc``):
    numba costs ~120 MB of RSS, which ``import nlpsvc.ngram`` and a build's early stages do
    without."""
    from nlpsvc.ngram import kernel

    return kernel


@dataclass(slots=True)  # slots: ~10% less to make, and a batch makes one per sentence
class TokenScore:
    """One scored token, as KenLM's ``full_scores`` (plus the token itself)."""

    token: str
    log10_prob: float
    ngram_order: int  # length of the longest n-gram matched
    oov: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SentenceScore:
    """Score of one sentence; ``tokens`` counts ``</s>`` when it was scored (KenLM)."""

    log10_prob: float
    tokens: int
    oov: int
    perplexity: float | None  # None for models whose scores are not probabilities
    per_token: list[TokenScore] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.per_token is None:
            d.pop("per_token")
        return d


class NgramModel:
    """A backoff n-gram language model ready to score (log10 everywhere).

    >>> from nlpsvc.ngram import train                        # doctest: +SKIP
    >>> lm = train([["a", "b"], ["a", "c"]], order=2)          # doctest: +SKIP
    >>> lm.score(["a", "b"]).log10_prob                        # doctest: +SKIP
    """

    def __init__(
        self,
        words: list[str],
        keys: list[np.ndarray | None],
        logprob: list[np.ndarray],
        backoff: list[np.ndarray],
        *,
        missing_backoff: float = 0.0,
        proper: bool = True,
        smoothing: str = "",
        params: dict[str, Any] | None = None,
        probe: list[np.ndarray | None] | None = None,
        vocab_table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        suffix_closed: bool = False,
    ) -> None:
        """``probe``: the hash tables per order (``probe[0]`` None), ``vocab_table``: the
        vocabulary's (``wordids.build``), e.g. mapped by ``load``; tables not given are built
        in memory on first use. ``suffix_closed``: every stored n-gram's suffix is stored too
        (``from_tables`` finds out; every model trained here is), so a position's lookups
        may stop at its first miss."""
        if list(words[:3]) != list(SPECIALS):
            raise ValueError(f"vocabulary must start with {SPECIALS}, got {words[:3]}")
        self.words = list(words)
        self.V = len(words)
        self.keys = [_plain(k) for k in keys]  # keys[0] is None: unigrams are indexed by id
        self.lp = [_plain(a) for a in logprob]
        self.bo = [_plain(a) for a in backoff]  # len(order - 1)
        self.missing_backoff = float(missing_backoff)
        self.suffix_closed = bool(suffix_closed)
        self.proper = bool(proper)
        self.smoothing = smoothing
        self.params = dict(params or {})
        self._vocab: Vocabulary | None = None
        self.probe: list[np.ndarray | None] = [_plain(t) for t in probe] if probe else []
        self.vocab_table = tuple(map(_plain, vocab_table)) if vocab_table else None
        # the kernel's descriptor of the arrays, and the views it points into (kept alive)
        self._desc: np.ndarray | None = None
        self._hold: list[np.ndarray] = []
        self._k: Any = None  # kernel.for_order(order): the entry points compiled for it

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_tables(cls, tables: BackoffTables, dtype: type = STORE) -> NgramModel:
        """Index estimator or ARPA tables (any row order) for querying. ``dtype``: of the
        stored log10 values, float32 as saved models (``STORE``); float64 keeps the
        estimator's values exactly (for checking an estimator's arithmetic)."""
        words = list(tables.vocab)
        V = len(words)
        N = tables.order
        g1 = np.asarray(tables.grams[0])[:, 0].astype(np.int64)
        lp1 = np.full(V, -np.inf, dtype=dtype)
        bo1 = np.zeros(V, dtype=dtype)
        lp1[g1] = tables.logprob[0]
        bo1[g1] = tables.backoff[0]
        if np.unique(g1).size != g1.size:
            raise ValueError("duplicate unigram in the tables")
        keys: list[np.ndarray | None] = [None]
        lps = [lp1]
        bos = [bo1]
        closed = True
        for o in range(2, N + 1):
            g = np.asarray(tables.grams[o - 1])
            parent = _find_rows(keys, g[:, :-1], V)
            if g.shape[0] and (parent < 0).any():
                bad = g[int(np.flatnonzero(parent < 0)[0])]
                raise ValueError(
                    f"{o}-gram {' '.join(words[i] for i in bad)!r} is stored but its prefix "
                    "is not (every context must be an n-gram of the model)"
                )
            k = parent * V + g[:, -1].astype(np.int64)
            order = np.argsort(k, kind="stable")
            k = k[order]
            if k.size > 1 and not (k[1:] != k[:-1]).all():
                raise ValueError(f"duplicate {o}-gram in the tables")
            keys.append(k)
            closed = closed and bool((_find_rows(keys, g[:, 1:], V) >= 0).all())
            lps.append(np.asarray(tables.logprob[o - 1], dtype=dtype)[order])
            bos.append(np.asarray(tables.backoff[o - 1], dtype=dtype)[order])
        return cls(
            words,
            keys,
            lps,
            bos[:-1],
            missing_backoff=tables.missing_backoff,
            proper=tables.proper,
            smoothing=tables.smoothing,
            params=tables.params,
            suffix_closed=closed,
        )

    def to_tables(self) -> BackoffTables:
        """Back to ``BackoffTables`` (rows rebuilt from the key chain), e.g. for ARPA."""
        rows = [np.arange(self.V, dtype=np.int32)[:, None]]
        for o in range(2, self.order + 1):
            k = np.asarray(self.keys[o - 1])
            parent, last = k // self.V, (k % self.V).astype(np.int32)
            rows.append(np.concatenate([rows[-1][parent], last[:, None]], axis=1))
        backoff = [np.asarray(b, dtype=np.float64) for b in self.bo]
        backoff.append(np.zeros(rows[-1].shape[0]))
        return BackoffTables(
            vocab=list(self.words),
            grams=rows,
            logprob=[np.asarray(p, dtype=np.float64) for p in self.lp],
            backoff=backoff,
            missing_backoff=self.missing_backoff,
            proper=self.proper,
            smoothing=self.smoothing,
            params=dict(self.params),
        )

    # ---------------------------------------------------------------- properties
    @property
    def order(self) -> int:
        return len(self.lp)

    @property
    def vocab(self) -> Vocabulary:
        if self._vocab is None:
            self._vocab = Vocabulary(self.words[3:])
        return self._vocab

    def counts(self) -> list[int]:
        """Number of n-grams stored per order."""
        return [self.V] + [int(k.shape[0]) for k in self.keys[1:]]  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return (
            f"NgramModel(order={self.order}, smoothing={self.smoothing!r}, "
            f"ngrams={self.counts()})"
        )

    # ---------------------------------------------------------------- scoring core
    @cached_property
    def _index(self) -> dict[str, int]:
        """word -> id, built on first use: the kernel maps tokens itself (``wordids``), so a
        server worker that only scores never holds this dict."""
        return {w: i for i, w in enumerate(self.words)}

    def _ids(self, tokens: Iterable[str], n: int) -> np.ndarray:
        return np.fromiter(
            map(self._index.get, tokens, repeat(UNK_ID)), dtype=np.int64, count=n
        )

    def prepare(self) -> NgramModel:
        """Build the missing hash tables and load the compiled kernels now, not on the first
        request (``load`` calls it: a server worker answers its first query at full speed)."""
        desc = self._kernel_desc()
        k = self._k
        self._score_lists([["a"]], np.ones(1, dtype=np.int64), True, True, False)
        k.score_text_one(b"a", 1, True, True, desc)
        k.score_sentences(_NO_I64, np.zeros(1, dtype=np.int64), True, True, desc,
                               np.zeros(1), np.zeros(1, dtype=np.int64), False, _NO_F64,
                               _NO_I64, _NO_BOOL)  # the dict path (tokens text cannot carry)
        one = np.zeros(1, dtype=np.int64)
        self._score_lines_chunk(["a"], True, True, one, np.zeros(1), one.copy())  # score_lines
        return self

    def _kernel_desc(self) -> np.ndarray:
        """The kernel's view of this model, built once (tables built here when missing); the
        kernel module is imported here, so any scoring path has it once it has a ``desc``."""
        if self._desc is None:
            k = _load_kernel()
            probe = list(self.probe) or [None] * self.order
            for o in range(2, self.order + 1):
                if probe[o - 1] is None:
                    probe[o - 1] = probing.build(self.keys, o, self.V)
            self.probe = probe
            if self.vocab_table is None:
                self.vocab_table = wordids.build(self.words)
            desc, hold = k.describe(self.V, self.keys, probe, self.lp, self.bo,
                                         self.missing_backoff, self.vocab_table)
            self._hold = hold
            self._k = k.for_order(self.order, self.suffix_closed)
            self._desc = desc
        return self._desc

    def _score_lists(
        self, sentences: list[Sequence[str]], lens: np.ndarray, bos: bool, eos: bool,
        per_token: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Totals and OOV counts per sentence; with ``per_token``, every scored position's
        log10 prob, matched order and OOV flag (``<s>`` left out, ``</s>`` in). The tokens go
        to the kernel as text when ``wordids`` can take them, else as ids from the dict,
        ``CHUNK`` sentences a call."""
        ns = lens.shape[0]
        totals = np.empty(ns, dtype=np.float64)
        oovs = np.empty(ns, dtype=np.int64)
        if per_token:
            m = int(lens.sum()) + ns * eos
            tok = (np.empty(m, np.float64), np.empty(m, np.int64), np.empty(m, np.bool_))
        else:
            tok = (_NO_F64, _NO_I64, _NO_BOOL)
        j = 0
        for a in range(0, ns, CHUNK):
            b = min(ns, a + CHUNK)
            part = lens[a:b]
            k = j + int(part.sum()) + (b - a) * eos if per_token else 0
            self._score_chunk(sentences[a:b], part, bos, eos, totals[a:b], oovs[a:b],
                              per_token, *(t[j:k] for t in tok))
            j = k
        return totals, oovs, *tok

    def _score_chunk(
        self, sentences: list[Sequence[str]], lens: np.ndarray, bos: bool, eos: bool,
        totals: np.ndarray, oovs: np.ndarray, per_token: bool, *tok: np.ndarray,
    ) -> None:
        """``_score_lists`` of one chunk, into the views it is given."""
        desc = self._desc if self._desc is not None else self._kernel_desc()
        text = wordids.encode_sentences(sentences, nonempty=bool(lens.all()))
        if text is None or not self._k.score_text(
                text, lens, bos, eos, desc, totals, oovs, per_token, *tok, 0):
            words = self._ids(chain.from_iterable(sentences), int(lens.sum()))
            self._k.score_sentences(words, lens, bos, eos, desc, totals, oovs, per_token,
                                    *tok)

    # ---------------------------------------------------------------- public scoring
    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        """log10 p(word | context); the context is used as given (add ``<s>`` yourself).

        One kernel call over ``context[-(N-1):] + [word]`` without markers: the last position
        is the query, by the same rules as ``score``.
        """
        N = self.order
        toks = [*context[max(0, len(context) - N + 1):], word] if N > 1 else [word]
        tok_lp = self._score_lists([toks], np.array([len(toks)]), False, False, True)[2]
        return float(tok_lp[-1])

    def score(
        self, tokens: Sequence[str], bos: bool = True, eos: bool = True, per_token: bool = False
    ) -> SentenceScore:
        """Score one tokenised sentence (``<s>`` / ``</s>`` added as asked): one kernel call,
        and little else (a /score request's latency)."""
        if tokens.__class__ is not list and tokens.__class__ is not tuple:
            tokens = _tokens(tokens)
        n = len(tokens)
        if not per_token:
            text = wordids.encode(tokens, n)
            if text is not None:
                desc = self._desc if self._desc is not None else self._kernel_desc()
                total, oov = self._k.score_text_one(text, n, bos, eos, desc)
                n += eos
                return SentenceScore(total, n, oov,
                                     10.0 ** (-total / n) if self.proper and n else None)
        lens = np.array([n])
        return self._finish([tokens], lens, self._score_lists([tokens], lens, bos, eos,
                                                              per_token), per_token, eos)[0]

    def score_batch(
        self,
        sentences: Sequence[Sequence[str]],
        per_token: bool = False,
        bos: bool = True,
        eos: bool = True,
    ) -> list[SentenceScore]:
        """Score many sentences in one kernel call."""
        sentences = [s if s.__class__ is list or s.__class__ is tuple else _tokens(s)
                     for s in sentences]
        if not sentences:
            return []
        if len(sentences) == 1 and not per_token:  # a /score request: score's leaner path
            return [self.score(sentences[0], bos, eos)]
        lens = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        scored = self._score_lists(sentences, lens, bos, eos, per_token)
        return self._finish(sentences, lens, scored, per_token, eos)

    def score_lines(
        self, lines: Sequence[str], per_token: bool = False, bos: bool = True, eos: bool = True
    ) -> list[SentenceScore]:
        """Score lines of whitespace-separated tokens (a file's lines as read; KenLM's
        ``Model.score`` convention): exactly ``score_batch([l.split() for l in lines])``.

        Why: a token list costs Python ~15 ns a token to join for the kernel, and ~25 more to
        split, as much as scoring it on a small model. Here the kernel reads the lines as they
        are, a token ending at one ASCII whitespace byte (``kernel``'s ``score_text``); a chunk of
        lines it cannot read so (runs of whitespace, an empty line, Unicode's whitespace) is
        split here, and so are all the lines with ``per_token`` (its tokens are named)."""
        if isinstance(lines, str):
            raise TypeError("score_lines expects a list of lines, not one string")
        lines = lines if lines.__class__ is list else list(lines)
        if not lines:
            return []
        if per_token:
            return self.score_batch([_split(s) for s in lines], per_token, bos, eos)
        ns = len(lines)
        lens = np.empty(ns, dtype=np.int64)
        totals = np.empty(ns, dtype=np.float64)
        oovs = np.empty(ns, dtype=np.int64)
        for a in range(0, ns, CHUNK):
            b = min(ns, a + CHUNK)
            self._score_lines_chunk(lines[a:b], bos, eos, lens[a:b], totals[a:b], oovs[a:b])
        return self._finish(lines, lens, (totals, oovs, _NO_F64, _NO_I64, _NO_BOOL), False, eos)

    def _score_lines_chunk(self, lines: list[str], bos: bool, eos: bool, lens: np.ndarray,
                           totals: np.ndarray, oovs: np.ndarray) -> None:
        """``score_lines`` of one chunk, into the views it is given."""
        try:
            enc = wordids.encode_lines(lines, lens)
        except TypeError:
            raise TypeError(_LINES_ONLY) from None
        if enc is None:  # split here (only this chunk)
            toks = [_split(s) for s in lines]
            lens[:] = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
            self._score_chunk(toks, lens, bos, eos, totals, oovs, False, _NO_F64, _NO_I64,
                              _NO_BOOL)
            return
        text, ws = enc
        desc = self._desc if self._desc is not None else self._kernel_desc()
        if not self._k.score_text(text, lens, bos, eos, desc, totals, oovs, False, _NO_F64,
                                  _NO_I64, _NO_BOOL, ws):
            raise AssertionError("encode_lines gave text that does not hold its tokens")

    def _finish(
        self, sentences: list[Sequence[str]], lens: np.ndarray,
        scored: tuple[np.ndarray, ...], per_token: bool, eos: bool,
    ) -> list[SentenceScore]:
        """``SentenceScore`` objects from the kernel's arrays (plain Python numbers)."""
        totals, oovs, tok_lp, tok_order, tok_oov = scored
        t_list, n_list = totals.tolist(), (lens + eos).tolist()
        if self.proper and (eos or lens.all()):  # as _perplexity: exponents divided at once
            # (IEEE division, as Python's), each power Python's (np.power's may differ by ulps)
            ppl = [10.0 ** x for x in (-totals / (lens + eos)).tolist()]
        elif self.proper:
            ppl = [10.0 ** (-t / n) if n else None for t, n in zip(t_list, n_list, strict=True)]
        else:
            ppl = [None] * len(t_list)
        if not per_token:
            return list(map(SentenceScore, t_list, n_list, oovs.tolist(), ppl))
        lp_s, m_s, oov_s = tok_lp.tolist(), tok_order.tolist(), tok_oov.tolist()
        out = []
        j = 0
        for s, total, n, oov, pp in zip(sentences, t_list, n_list, oovs.tolist(), ppl,
                                        strict=True):
            names = [*s, EOS] if eos else s
            toks = list(map(TokenScore, names, lp_s[j:j + n], m_s[j:j + n], oov_s[j:j + n]))
            j += n
            out.append(SentenceScore(total, n, oov, pp, toks))
        return out

    def _perplexity(self, total: float, n: int) -> float | None:
        if not self.proper or n == 0:
            return None
        return float(10.0 ** (-total / n))

    def evaluate(
        self, sentences: Iterable[Sequence[str]], bos: bool = True, eos: bool = True
    ) -> dict[str, Any]:
        """Corpus perplexity with KenLM's conventions.

        Every ``</s>`` counts as a token; OOV tokens are scored as ``<unk>`` and counted
        (``perplexity``), and also left out (``perplexity_excluding_oovs``). For a model that is
        not proper (stupid backoff) both perplexities are None: its scores are not probabilities.
        """
        total = oov_total = 0.0
        tokens = oov = sents = 0
        batch: list[Sequence[str]] = []

        def flush() -> None:
            nonlocal total, oov_total, tokens, oov, sents
            if not batch:
                return
            lens = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))
            _, _, lp, _, is_oov = self._score_lists(batch, lens, bos, eos, True)
            total += float(lp.sum())  # numpy's pairwise sums per batch, as ever
            oov_total += float(lp[is_oov].sum())
            tokens += lp.size
            oov += int(is_oov.sum())
            sents += len(batch)
            batch.clear()

        for s in sentences:
            if isinstance(s, str):
                raise TypeError("evaluate expects token lists, not strings")
            batch.append(s)
            if len(batch) >= BATCH_SENTENCES:
                flush()
        flush()
        if tokens == 0:
            raise ValueError("nothing to evaluate: no sentences")
        ppl = self._perplexity(total, tokens)
        ppl_ex = self._perplexity(total - oov_total, tokens - oov) if tokens > oov else None
        return {
            "perplexity": ppl,
            "perplexity_excluding_oovs": ppl_ex,
            "log10_prob": total,
            "tokens": tokens,
            "oov": oov,
            "sentences": sents,
            "proper": self.proper,
        }

    # ---------------------------------------------------------------- generation
    def next_logprobs(self, context: Sequence[str]) -> np.ndarray:
        """log10 p(w | context) for every word id w (context used as given)."""
        N, V = self.order, self.V
        ctx = self._ids(context, len(context))[max(0, len(context) - (N - 1)):]
        c = ctx.size
        # cidx[L]: row of the context suffix of length L (last L words), -1 when absent.
        cidx = [0] * (c + 1)
        for L in range(1, c + 1):
            r = _find_rows(self.keys, ctx[c - L:][None, :], V)[0] if L <= N - 1 else -1
            cidx[L] = int(r)
        words = np.arange(V, dtype=np.int64)
        lp = self.lp[0].astype(np.float64)  # sums in float64, as the kernel
        matched = np.ones(V, dtype=np.int64)
        alive = np.ones(V, dtype=bool)
        for o in range(2, c + 2):
            keys = self.keys[o - 1]
            if cidx[o - 1] < 0 or keys.shape[0] == 0:
                break
            q = cidx[o - 1] * V + words
            pos = np.minimum(np.searchsorted(keys, q), keys.shape[0] - 1)
            alive &= keys[pos] == q
            matched += alive
            lp[alive] = self.lp[o - 1][pos[alive]]
        for L in range(1, c + 1):
            need = matched <= L
            b = self.bo[L - 1][cidx[L]] if cidx[L] >= 0 else self.missing_backoff
            lp[need] += b
        return lp

    def generate(
        self, n_words: int, seed: int | None = None, context: Sequence[str] = ()
    ) -> list[str]:
        """Sample up to ``n_words`` words after ``<s>`` + ``context``; stops early at ``</s>``.

        Never samples ``<s>`` or ``<unk>``. Stupid-backoff scores are renormalised per step.
        """
        if n_words < 0:
            raise ValueError("n_words must be >= 0")
        rng = np.random.default_rng(seed)
        history = ["<s>", *context]
        out: list[str] = []
        for _ in range(n_words):
            lp = self.next_logprobs(history)
            lp[[UNK_ID, BOS_ID]] = -np.inf
            p = np.power(10.0, lp - lp.max())
            p /= p.sum()
            w = int(rng.choice(self.V, p=p))
            if w == EOS_ID:
                break
            out.append(self.words[w])
            history.append(self.words[w])
        return out

    # ---------------------------------------------------------------- persistence
    def save(self, directory: str | Path) -> Path:
        """Write ``header.json``, ``vocab.json`` and one ``.npy`` of records per order
        (``records``) into ``directory``, the hash tables included (built here through a file
        mapping if not built yet)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        N = self.order
        for o in range(1, N + 1):
            np.save(d / records.name(o), records.join(
                self.keys[o - 1], self.lp[o - 1], self.bo[o - 1] if o < N else None, o, N))
            if o >= 2:
                table = self.probe[o - 1] if self.probe else None
                if table is None:
                    probing.build_file(self.keys, o, self.V, d / f"probe{o}.npy")
                else:
                    np.save(d / f"probe{o}.npy", np.ascontiguousarray(table))
        _save_vocab_table(d, self.vocab_table or wordids.build(self.words))
        write_folder_meta(d, self.words, self.order, self.counts(), smoothing=self.smoothing,
                          proper=self.proper, missing_backoff=self.missing_backoff,
                          params=self.params, suffix_closed=self.suffix_closed, tables=True)
        return d

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True, huge_pages: bool = True
             ) -> NgramModel:
        """Load a model written by ``save``; arrays are memory-mapped read-only by default, in
        2 MiB pages where the system allows (``hugemap``: half the lookups' time on a large
        model; ``huge_pages=False``: 4 KiB pages).

        The compiled kernels are loaded (from numba's cache) before returning. A model saved
        before the hash tables existed (no ``probe`` in its header) still loads: its tables are
        built in memory here; so does one saved before the records (format v1: an array per
        file)."""
        d = Path(directory)
        try:
            header = json.loads((d / HEADER).read_text("utf-8"))
        except FileNotFoundError as e:
            raise ValueError(f"{d}: no {HEADER} (not an n-gram model folder)") from e
        except json.JSONDecodeError as e:
            raise ValueError(f"{d / HEADER}: unreadable header ({e})") from e
        version = header.get("format_version")
        if header.get("format") != FORMAT or version not in READS:
            raise ValueError(
                f"{d}: format {header.get('format')!r} v{version!r}, "
                f"this nlpsvc reads {FORMAT} v{' and v'.join(map(str, READS))}"
            )

        def array(name: str) -> np.ndarray:  # mapped arrays become plain views in __init__
            path = d / name
            return hugemap.load(path, huge_pages) if mmap else np.load(path, allow_pickle=False)

        N = int(header["order"])
        lp, bo, keys = [], [], [None]
        for o in range(1, N + 1):
            if version == 1:  # an array per file
                k = array(f"keys{o}.npy") if o >= 2 else None
                p, b = array(f"logprob{o}.npy"), array(f"backoff{o}.npy") if o < N else None
            else:
                k, p, b = records.fields(array(records.name(o)), o, N)
            lp.append(p)
            if o >= 2:
                keys.append(k)
            if b is not None:
                bo.append(b)
        words = json.loads((d / "vocab.json").read_text("utf-8"))
        if len(words) != header["vocab_size"] or lp[0].shape[0] != len(words):
            raise ValueError(f"{d}: vocabulary size does not match the arrays")
        for o in range(2, N + 1):
            if keys[o - 1].shape != lp[o - 1].shape:
                raise ValueError(f"{d}: order-{o} keys and probabilities differ in length")
        probe: list[np.ndarray | None] | None = None
        if header.get("probe") == probing.LAYOUT:
            probe = [None] + [array(f"probe{o}.npy")
                              for o in range(2, N + 1)]
            for o in range(2, N + 1):
                if not probing.valid(probe[o - 1], keys[o - 1].shape[0]):  # type: ignore[arg-type]
                    raise ValueError(f"{d}: probe{o}.npy does not fit the order-{o} keys")
        vocab_table = None
        if header.get("vocab_probe") == wordids.LAYOUT:
            blob, offsets, slots = (array(f) for f in wordids.FILES)
            if not wordids.valid(blob, offsets, slots, len(words)):
                raise ValueError(f"{d}: {', '.join(wordids.FILES)} do not fit the vocabulary")
            vocab_table = (blob, offsets, slots)
        return cls(
            words,
            keys,
            lp,
            bo,
            missing_backoff=float(header["missing_backoff"]),
            proper=bool(header["proper"]),
            smoothing=header.get("smoothing", ""),
            params=header.get("params") or {},
            probe=probe,
            vocab_table=vocab_table,
            suffix_closed=bool(header.get("suffix_closed", False)),
        ).prepare()

    @staticmethod
    def write_tables(directory: str | Path) -> None:
        """Add the hash tables to a model folder written without them (the bounded build
        writes the arrays itself), one order at a time from its keys read in blocks
        (``probing.build_files``): RAM holds one order's hashes and one table, never every
        order's keys. ``load`` then maps them instead of building them in memory."""
        d = Path(directory)
        header = json.loads((d / HEADER).read_text("utf-8"))
        N, V = int(header["order"]), int(header["vocab_size"])
        probing.build_files(d, N, V)
        _save_vocab_table(d, wordids.build(json.loads((d / "vocab.json").read_text("utf-8"))))
        header.update(_TABLES)
        _write_header(d, header)

    def to_arpa(self, path: str | Path, *, lossy: bool = False) -> None:
        """Write an ARPA file (``.gz`` compressed when the name says so).

        Stupid backoff and nltk-style MLE cannot be written without changing their scores:
        ``ArpaExportError`` unless ``lossy=True`` (see ``nlpsvc.ngram.arpa.arpa_loss``).
        """
        from nlpsvc.ngram.arpa import write_arpa

        write_arpa(self.to_tables(), path, lossy=lossy)

    @classmethod
    def from_arpa(cls, path: str | Path) -> NgramModel:
        """Read an ARPA file (plain or ``.gz``), e.g. one written by KenLM's ``lmplz``."""
        from nlpsvc.ngram.arpa import read_arpa

        return cls.from_tables(read_arpa(path))


# header.json's entries for the hash tables: probe<o>.npy (absent: built on load) and the
# tokens' table vocab_*.npy (idem); a layout that differs from this nlpsvc's means rebuild
_TABLES = {"probe": probing.LAYOUT, "vocab_probe": wordids.LAYOUT}


def write_folder_meta(folder: Path, words: list[str], order: int, counts: list[int], *,
                      smoothing: str, proper: bool, missing_backoff: float,
                      params: dict[str, Any], suffix_closed: bool,
                      tables: bool = False) -> None:
    """``vocab.json`` and ``header.json`` of a model folder: the one writer of both, for
    ``save`` and for the builds that write the arrays themselves (``build``, ``distributed``),
    so their folders cannot drift apart. ``tables``: the folder has the hash tables (else
    ``NgramModel.write_tables`` adds them and their header entries)."""
    (folder / "vocab.json").write_text(json.dumps(words, ensure_ascii=False), "utf-8")
    header: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "order": order,
        "vocab_size": len(words),
        "counts": counts,
        "smoothing": smoothing,
        "proper": proper,
        "missing_backoff": _json_float(missing_backoff),
        "params": params,
        "suffix_closed": suffix_closed,
    }
    if tables:
        header.update(_TABLES)
    _write_header(folder, header)


def _write_header(folder: Path, header: dict[str, Any]) -> None:
    (folder / HEADER).write_text(json.dumps(header, indent=2, default=_jsonable), "utf-8")


def _save_vocab_table(d: Path, table: tuple[np.ndarray, ...]) -> None:
    for name, a in zip(wordids.FILES, table, strict=True):
        np.save(d / name, np.ascontiguousarray(a))


def _tokens(s: Iterable[str]) -> list[str]:
    """A sentence given as any iterable, as a list; a string is refused (it would be scored as
    its characters)."""
    if isinstance(s, str):
        raise TypeError("score_batch expects token lists, not strings")
    return list(s)


_LINES_ONLY = "score_lines expects strings (token lists go to score_batch)"


def _split(s: str) -> list[str]:
    """A line's whitespace-separated tokens; anything but a string is refused."""
    if not isinstance(s, str):
        raise TypeError(_LINES_ONLY)
    return s.split()


def _plain(a: np.ndarray | None) -> np.ndarray | None:
    """A plain-ndarray view of a memory-mapped array: the same file-backed pages (shared by
    workers), without ``np.memmap``'s Python-level ``__array_finalize__``/``__getitem__`` on
    every slice and index (~30 us per ``score_batch``)."""
    return a.view(np.ndarray) if isinstance(a, np.memmap) else a


def _find_rows(keys: list[np.ndarray | None], rows: np.ndarray, V: int) -> np.ndarray:
    """Row index of each n-gram in ``rows`` (n, m) at order m; -1 when absent."""
    n, m = rows.shape
    if m == 0:
        return np.zeros(n, dtype=np.int64)
    idx = rows[:, 0].astype(np.int64)
    ok = (idx >= 0) & (idx < V)
    for j in range(1, m):
        k = keys[j]
        if k is None or k.shape[0] == 0:
            return np.full(n, -1, dtype=np.int64)
        q = idx * V + rows[:, j]
        pos = np.minimum(np.searchsorted(k, q), k.shape[0] - 1)
        ok &= k[pos] == q
        idx = np.where(ok, pos, 0)
    return np.where(ok, idx, -1)


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else ("-inf" if x < 0 else "inf")


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
