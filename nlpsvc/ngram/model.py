"""The query side of n-gram LMs: a compact, mmap-able backoff model scored in numpy.

Built from ``BackoffTables`` (any estimator, or an ARPA file) and shares nothing else with
estimation (as KenLM's query/estimation split). Layout, per order o:

* order 1: arrays indexed by word id (``logprob``, ``backoff``);
* order o >= 2: ``keys[o]`` sorted int64 = row of the (o-1)-prefix in order o-1 * V + last word
  id, with ``logprob[o]`` and (below the top order) ``backoff[o]`` in the same order.

Scoring a batch concatenates its sentences into one id array and, order by order, finds the
n-gram ending at every position with one ``np.searchsorted`` (its prefix is the (o-1)-gram
ending one position earlier, found in the previous round). The longest match and the backoffs of
the skipped contexts are then summed with array masks: ARPA semantics, the same numbers as
KenLM's ``full_scores`` (log10 prob, n-gram length matched, OOV flag). All probabilities log10.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np

from nlpsvc.ngram.tables import BackoffTables
from nlpsvc.ngram.vocab import BOS_ID, EOS, EOS_ID, SPECIALS, UNK_ID, Vocabulary

FORMAT = "nlpsvc-ngram"
FORMAT_VERSION = 1
HEADER = "header.json"
BATCH_SENTENCES = 4096  # evaluate() scores this many sentences per vectorised batch
# score_batch inputs up to this many positions (tokens + markers) take the list-based path:
# the vectorised pass costs ~40 numpy calls (~100 us) whatever the size, which dominates a
# one-sentence /score request; the list path costs ~1 us per position (crossover measured).
SMALL_POSITIONS = 64


@dataclass
class TokenScore:
    """One scored token, as KenLM's ``full_scores`` (plus the token itself)."""

    token: str
    log10_prob: float
    ngram_order: int  # length of the longest n-gram matched
    oov: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
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
    ) -> None:
        if list(words[:3]) != list(SPECIALS):
            raise ValueError(f"vocabulary must start with {SPECIALS}, got {words[:3]}")
        self.words = list(words)
        self.V = len(words)
        self.keys = [_plain(k) for k in keys]  # keys[0] is None: unigrams are indexed by id
        self.lp = [_plain(a) for a in logprob]
        self.bo = [_plain(a) for a in backoff]  # len(order - 1)
        self.missing_backoff = float(missing_backoff)
        self.proper = bool(proper)
        self.smoothing = smoothing
        self.params = dict(params or {})
        self._index = {w: i for i, w in enumerate(self.words)}
        self._vocab: Vocabulary | None = None
        self._keys_nd: list[np.ndarray] | None = None
        self.small_positions = SMALL_POSITIONS  # 0 forces the vectorised path (tests)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_tables(cls, tables: BackoffTables) -> NgramModel:
        """Index estimator or ARPA tables (any row order) for querying."""
        words = list(tables.vocab)
        V = len(words)
        N = tables.order
        g1 = np.asarray(tables.grams[0])[:, 0].astype(np.int64)
        lp1 = np.full(V, -np.inf)
        bo1 = np.zeros(V)
        lp1[g1] = tables.logprob[0]
        bo1[g1] = tables.backoff[0]
        if np.unique(g1).size != g1.size:
            raise ValueError("duplicate unigram in the tables")
        keys: list[np.ndarray | None] = [None]
        lps = [lp1]
        bos = [bo1]
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
            lps.append(np.asarray(tables.logprob[o - 1], dtype=np.float64)[order])
            bos.append(np.asarray(tables.backoff[o - 1], dtype=np.float64)[order])
        return cls(
            words,
            keys,
            lps,
            bos[:-1],
            missing_backoff=tables.missing_backoff,
            proper=tables.proper,
            smoothing=tables.smoothing,
            params=tables.params,
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
    def _ids(self, tokens: Iterable[str], n: int) -> np.ndarray:
        return np.fromiter(
            map(self._index.get, tokens, repeat(UNK_ID)), dtype=np.int64, count=n
        )

    def _encode(
        self, sentences: Sequence[Sequence[str]], bos: bool, eos: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat ids (with markers), per-position history length, sentence lengths (with </s>)."""
        lens = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        words = self._ids(chain.from_iterable(sentences), int(lens.sum()))
        ns = lens.size
        full = lens + bos + eos  # ids per sentence incl. markers
        starts = np.zeros(ns, dtype=np.int64)
        np.cumsum(full[:-1], out=starts[1:])
        total = int(full.sum())
        ids = np.empty(total, dtype=np.int64)
        if bos or eos:
            is_word = np.ones(total, dtype=bool)
            if bos:
                ids[starts] = BOS_ID
                is_word[starts] = False
            if eos:
                ends = starts + full - 1
                ids[ends] = EOS_ID
                is_word[ends] = False
            ids[is_word] = words
        else:
            ids[:] = words
        hist = np.arange(total, dtype=np.int64) - np.repeat(starts, full)
        return ids, hist, full

    def _score_ids(self, ids: np.ndarray, hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log10 p and matched order at every position (history = tokens before it)."""
        N, V = self.order, self.V
        T = ids.size
        idx = [ids]  # idx[o-1][t]: row of the o-gram ending at t, -1 if absent
        for o in range(2, N + 1):
            prev = np.empty(T, dtype=np.int64)
            prev[0] = -1
            prev[1:] = idx[-1][:-1]
            valid = np.flatnonzero((prev >= 0) & (hist >= o - 1))
            cur = np.full(T, -1, dtype=np.int64)
            keys = self.keys[o - 1]
            if valid.size and keys.shape[0]:
                q = prev[valid] * V + ids[valid]
                pos = np.searchsorted(keys, q)
                np.minimum(pos, keys.shape[0] - 1, out=pos)
                hit = keys[pos] == q
                cur[valid[hit]] = pos[hit]
            idx.append(cur)
        matched = np.ones(T, dtype=np.int64)
        alive = np.ones(T, dtype=bool)
        lp = self.lp[0][ids]
        for o in range(2, N + 1):
            alive &= idx[o - 1] >= 0
            matched += alive
            sel = np.flatnonzero(alive)
            lp[sel] = self.lp[o - 1][idx[o - 1][sel]]
        # Backoffs of the contexts longer than the match's context (lengths matched..N-1).
        for L in range(1, N):
            need = (matched <= L) & (hist >= L)
            if not need.any():
                continue
            sel = np.flatnonzero(need)
            ctx = idx[L - 1][sel - 1]
            found = ctx >= 0
            add = np.full(sel.size, self.missing_backoff)
            add[found] = self.bo[L - 1][ctx[found]]
            lp[sel] += add
        return lp, matched

    # ---------------------------------------------------------------- public scoring
    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        """log10 p(word | context); the context is used as given (add ``<s>`` yourself).

        One query at a time (oracles, step-by-step decoding) is a scalar walk down the key
        chains: a few ``searchsorted`` calls instead of the array set-up of ``score_batch``
        (about 10x faster for one query); it follows ``_score_ids`` rule for rule.
        """
        N = self.order
        get = self._index.get
        ids = [get(t, UNK_ID) for t in (context[-(N - 1):] if N > 1 else ())]
        w = get(word, UNK_ID)
        ids.append(w)
        T = len(ids)
        keys = self._scalar_keys()
        # rows[L]: row of the context of length L (ids[T-1-L:T-1]) at order L, -1 if absent
        rows = [-1] * T
        for L in range(1, T):
            row = ids[T - 1 - L]
            for k in range(T - L, T - 1):
                row = _child(keys[k - (T - 1 - L)], row, ids[k], self.V) if row >= 0 else -1
            rows[L] = row
        # The longest suffix stored with all shorter suffixes stored (as ``_score_ids``).
        lp = float(self.lp[0][w])
        matched = 1
        for L in range(1, T):
            full = _child(keys[L], rows[L], w, self.V) if rows[L] >= 0 else -1
            if full < 0:
                break
            lp = float(self.lp[L][full])
            matched = L + 1
        for L in range(matched, T):  # contexts longer than the match's: their backoffs
            lp += float(self.bo[L - 1][rows[L]]) if rows[L] >= 0 else self.missing_backoff
        return lp

    def _scalar_keys(self) -> list[np.ndarray]:
        """Plain-ndarray views of the key chains (``keys[o-1]``; ``keys[0]`` unused), cached:
        memmap indexing costs a Python-level ``__getitem__`` per access."""
        if self._keys_nd is None:
            self._keys_nd = [np.zeros(0, np.int64)] + [
                np.asarray(k).view(np.ndarray) for k in self.keys[1:]  # type: ignore[union-attr]
            ]
        return self._keys_nd

    def score(
        self, tokens: Sequence[str], bos: bool = True, eos: bool = True, per_token: bool = False
    ) -> SentenceScore:
        """Score one tokenised sentence (``<s>`` / ``</s>`` added as asked)."""
        return self.score_batch([tokens], per_token=per_token, bos=bos, eos=eos)[0]

    def score_batch(
        self,
        sentences: Sequence[Sequence[str]],
        per_token: bool = False,
        bos: bool = True,
        eos: bool = True,
    ) -> list[SentenceScore]:
        """Score many sentences in one vectorised pass."""
        sentences = [s if isinstance(s, list | tuple) else list(s) for s in sentences]
        for s in sentences:
            if isinstance(s, str):
                raise TypeError("score_batch expects token lists, not strings")
        if not sentences:
            return []
        n_pos = sum(map(len, sentences)) + len(sentences) * (bos + eos)
        if n_pos <= self.small_positions:
            return self._score_small(sentences, per_token, bos, eos)
        ids, hist, full = self._encode(sentences, bos, eos)
        lp, matched = self._score_ids(ids, hist)
        scored = hist > 0 if bos else np.ones(ids.size, dtype=bool)  # <s> is context only
        sid = np.repeat(np.arange(full.size), full)
        sums = np.bincount(sid[scored], weights=lp[scored], minlength=full.size)
        oov = ids == UNK_ID
        oovs = np.bincount(sid[scored & oov], minlength=full.size)
        ntok = full - bos
        out = []
        if per_token:
            pos_s = np.flatnonzero(scored)
            lp_s, m_s, oov_s = lp[pos_s].tolist(), matched[pos_s].tolist(), oov[pos_s].tolist()
            j = 0
        for i, s in enumerate(sentences):
            total = float(sums[i])
            n = int(ntok[i])
            ppl = self._perplexity(total, n)
            toks = None
            if per_token:
                names = [*s, EOS] if eos else list(s)
                toks = [
                    TokenScore(t, lp_s[j + k], m_s[j + k], oov_s[j + k])
                    for k, t in enumerate(names)
                ]
                j += n
            out.append(SentenceScore(total, n, int(oovs[i]), ppl, toks))
        return out

    def _score_small(
        self, sentences: list[Sequence[str]], per_token: bool, bos: bool, eos: bool
    ) -> list[SentenceScore]:
        """``score_batch`` for a few short sentences, in Python lists: the same rules and the
        same float operations in the same order as ``_score_ids`` + ``np.bincount`` (a
        sequential sum from 0.0), so bit-identical results without the arrays' fixed cost."""
        N, V = self.order, self.V
        get = self._index.get
        ids: list[int] = []
        hist: list[int] = []
        spans = []
        for s in sentences:
            start = len(ids)
            if bos:
                ids.append(BOS_ID)
            ids.extend([get(t, UNK_ID) for t in s])
            if eos:
                ids.append(EOS_ID)
            hist.extend(range(len(ids) - start))
            spans.append((start, len(ids)))
        T = len(ids)
        # rows[o-1][t]: row of the o-gram ending at t (-1 if absent), as idx in _score_ids;
        # matched[t]: the longest order found at t without a gap below it
        rows = [ids]
        matched = [1] * T
        for o in range(2, N + 1):
            prev, keys = rows[-1], self.keys[o - 1]
            cur = [-1] * T
            at = [t for t in range(1, T) if prev[t - 1] >= 0 and hist[t] >= o - 1]
            if at and keys.shape[0]:
                q = [prev[t - 1] * V + ids[t] for t in at]
                pos = keys.searchsorted(q)
                found = keys.take(pos, mode="clip").tolist()  # clip: q beyond the last key
                for t, p, k, want in zip(at, pos.tolist(), found, q, strict=True):
                    if k == want:
                        cur[t] = p
                        if matched[t] == o - 1:
                            matched[t] = o
            rows.append(cur)
        lps, bos_t, missing, top = self.lp, self.bo, self.missing_backoff, N - 1
        lp = [0.0] * T
        for t in range(T):  # <s> positions too (unused, as in _score_ids)
            m = matched[t]
            x = float(lps[m - 1][rows[m - 1][t]])
            for L in range(m, min(hist[t], top) + 1):  # contexts longer than the match's
                c = rows[L - 1][t - 1]
                x += float(bos_t[L - 1][c]) if c >= 0 else missing
            lp[t] = x
        out = []
        for s, (start, end) in zip(sentences, spans, strict=True):
            first = start + bos  # <s> is context only
            total = 0.0
            for t in range(first, end):
                total += lp[t]
            n = end - first
            n_oov = sum(1 for t in range(first, end) if ids[t] == UNK_ID)
            toks = None
            if per_token:
                names = [*s, EOS] if eos else list(s)
                toks = [
                    TokenScore(name, lp[t], matched[t], ids[t] == UNK_ID)
                    for name, t in zip(names, range(first, end), strict=True)
                ]
            out.append(SentenceScore(total, n, n_oov, self._perplexity(total, n), toks))
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
            ids, hist, full = self._encode(batch, bos, eos)
            lp, _ = self._score_ids(ids, hist)
            scored = hist > 0 if bos else np.ones(ids.size, dtype=bool)
            is_oov = scored & (ids == UNK_ID)
            total += float(lp[scored].sum())
            oov_total += float(lp[is_oov].sum())
            tokens += int(scored.sum())
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
        lp = self.lp[0].copy()
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
        """Write ``header.json``, ``vocab.json`` and one ``.npy`` per array into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for o in range(1, self.order + 1):
            np.save(d / f"logprob{o}.npy", np.ascontiguousarray(self.lp[o - 1]))
            if o >= 2:
                np.save(d / f"keys{o}.npy", np.ascontiguousarray(self.keys[o - 1]))
            if o < self.order:
                np.save(d / f"backoff{o}.npy", np.ascontiguousarray(self.bo[o - 1]))
        (d / "vocab.json").write_text(json.dumps(self.words, ensure_ascii=False), "utf-8")
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "order": self.order,
            "vocab_size": self.V,
            "counts": self.counts(),
            "smoothing": self.smoothing,
            "proper": self.proper,
            "missing_backoff": _json_float(self.missing_backoff),
            "params": self.params,
        }
        (d / HEADER).write_text(json.dumps(header, indent=2, default=_jsonable), "utf-8")
        return d

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True) -> NgramModel:
        """Load a model written by ``save``; arrays are memory-mapped read-only by default."""
        d = Path(directory)
        try:
            header = json.loads((d / HEADER).read_text("utf-8"))
        except FileNotFoundError as e:
            raise ValueError(f"{d}: no {HEADER} (not an n-gram model folder)") from e
        except json.JSONDecodeError as e:
            raise ValueError(f"{d / HEADER}: unreadable header ({e})") from e
        if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{d}: format {header.get('format')!r} v{header.get('format_version')!r}, "
                f"this nlpsvc reads {FORMAT} v{FORMAT_VERSION}"
            )
        mode = "r" if mmap else None  # mapped arrays become plain views in __init__
        N = int(header["order"])
        lp, bo, keys = [], [], [None]
        for o in range(1, N + 1):
            lp.append(np.load(d / f"logprob{o}.npy", mmap_mode=mode))
            if o >= 2:
                keys.append(np.load(d / f"keys{o}.npy", mmap_mode=mode))
            if o < N:
                bo.append(np.load(d / f"backoff{o}.npy", mmap_mode=mode))
        words = json.loads((d / "vocab.json").read_text("utf-8"))
        if len(words) != header["vocab_size"] or lp[0].shape[0] != len(words):
            raise ValueError(f"{d}: vocabulary size does not match the arrays")
        for o in range(2, N + 1):
            if keys[o - 1].shape != lp[o - 1].shape:
                raise ValueError(f"{d}: order-{o} keys and probabilities differ in length")
        return cls(
            words,
            keys,
            lp,
            bo,
            missing_backoff=float(header["missing_backoff"]),
            proper=bool(header["proper"]),
            smoothing=header.get("smoothing", ""),
            params=header.get("params") or {},
        )

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


def _plain(a: np.ndarray | None) -> np.ndarray | None:
    """A plain-ndarray view of a memory-mapped array: the same file-backed pages (shared by
    workers), without ``np.memmap``'s Python-level ``__array_finalize__``/``__getitem__`` on
    every slice and index (~30 us per ``score_batch``)."""
    return a.view(np.ndarray) if isinstance(a, np.memmap) else a


def _child(keys: np.ndarray, parent: int, word: int, V: int) -> int:
    """Row of the n-gram ``parent row + word`` in one order's sorted keys, -1 when absent."""
    q = parent * V + word
    pos = int(keys.searchsorted(q))
    return pos if pos < keys.shape[0] and int(keys[pos]) == q else -1


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
