"""Retrieval fallback: the training reply whose prompt best matches the message.

A small seq2seq model trained for a couple of minutes on a few thousand pairs (the demo) is often
unsure, and an unsure decoder writes fluent-looking nonsense. When the generated reply's mean
log-probability per token falls below a threshold (tuned on the validation pairs by
``tune_threshold``), the bot answers with a training reply instead: the one whose prompt is the
most similar to the message (cosine of TF-IDF word vectors), provided the similarity reaches a
minimum (also tuned), so a message unlike every prompt still gets the generated reply.

The index is data only, ``retrieval.json`` beside the weights: the (prompt, reply) token lists
and the IDF weights; the sparse matrix is rebuilt at load (milliseconds for the demo's 2,000
prompts). Replies holding the same word twice in a row are left out of the index, so a fallback
reply keeps the decoder's rule (``decode.Constraints.no_repeat_word``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

Pair = tuple[list[str], list[str]]


def repeats_word(tokens: list[str]) -> bool:
    """True when a token directly follows an identical one."""
    return any(a == b for a, b in zip(tokens, tokens[1:], strict=False))


@dataclass
class Match:
    reply: list[str]
    prompt: list[str]
    similarity: float  # cosine of the TF-IDF vectors, in [0, 1]


class ReplyIndex:
    """TF-IDF (sublinear tf, smoothed idf, L2-normalised) over the training prompts."""

    def __init__(self, prompts: list[list[str]], replies: list[list[str]],
                 idf: dict[str, float]) -> None:
        if len(prompts) != len(replies):
            raise ValueError("retrieval index: prompts and replies differ in number")
        self.prompts, self.replies, self.idf = prompts, replies, idf
        self.column = {w: i for i, w in enumerate(sorted(idf))}
        self.weights = np.array([idf[w] for w in sorted(idf)], dtype=np.float64)
        self.matrix = sparse.vstack([self._vector(p) for p in prompts], format="csr") \
            if prompts else sparse.csr_matrix((0, len(self.column)))

    @classmethod
    def build(cls, pairs: Iterable[Pair]) -> ReplyIndex:
        """Unique (prompt, reply) pairs, in first-seen order; replies repeating a word dropped."""
        seen: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
        prompts, replies = [], []
        for src, tgt in pairs:
            key = (tuple(src), tuple(tgt))
            if src and tgt and key not in seen and not repeats_word(tgt):
                seen.add(key)
                prompts.append(list(src))
                replies.append(list(tgt))
        n = len({tuple(p) for p in prompts})  # documents: distinct prompts
        df = Counter(w for p in {tuple(p) for p in prompts} for w in set(p))
        idf = {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}
        return cls(prompts, replies, idf)

    def _vector(self, tokens: list[str]) -> sparse.csr_matrix:
        counts = Counter(t for t in tokens if t in self.column)
        cols = np.array([self.column[t] for t in counts], dtype=np.int64)
        vals = np.array([1.0 + math.log(c) for c in counts.values()]) * self.weights[cols]
        norm = float(np.linalg.norm(vals))
        if norm > 0:
            vals = vals / norm
        return sparse.csr_matrix((vals, (np.zeros(len(cols), dtype=np.int64), cols)),
                                 shape=(1, len(self.column)))

    def __len__(self) -> int:
        return len(self.prompts)

    def search(self, tokens: list[str]) -> list[Match]:
        """Every entry tied at the best similarity (first-seen order); [] when none shares a
        word with ``tokens``."""
        if not len(self):
            return []
        sims = (self.matrix @ self._vector(tokens).T).toarray().ravel()
        best = float(sims.max())
        if best <= 0.0:
            return []
        rows = np.flatnonzero(sims >= best - 1e-9)
        return [Match(self.replies[i], self.prompts[i], min(1.0, float(sims[i]))) for i in rows]

    def to_dict(self) -> dict[str, object]:
        return {"prompts": [" ".join(p) for p in self.prompts],
                "replies": [" ".join(r) for r in self.replies], "idf": self.idf}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ReplyIndex:
        prompts, replies, idf = data["prompts"], data["replies"], data["idf"]
        if not (isinstance(prompts, list) and isinstance(replies, list)
                and isinstance(idf, dict)):
            raise ValueError("retrieval index: expected prompts, replies (lists) and idf (object)")
        return cls([p.split(" ") for p in prompts], [r.split(" ") for r in replies],
                   {str(w): float(v) for w, v in idf.items()})


@dataclass
class Fallback:
    """When to answer from the index: the generated reply's mean log-probability per token
    (``</s>`` included) below ``threshold`` and the best prompt's similarity at least
    ``min_similarity``."""

    threshold: float
    min_similarity: float

    def use(self, confidence: float, similarity: float) -> bool:
        return confidence < self.threshold and similarity >= self.min_similarity


def token_f1(hyp: list[str], ref: list[str]) -> float:
    """Bag-of-tokens F1 (SQuAD style): the overlap's harmonic mean of precision and recall."""
    common = sum((Counter(hyp) & Counter(ref)).values())
    if common == 0:
        return 0.0
    p, r = common / len(hyp), common / len(ref)
    return 2 * p * r / (p + r)


def content_words(tokens: list[str]) -> list[str]:
    """Tokens holding a letter or digit that are not English stop words (scikit-learn's list)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return [t for t in tokens if any(c.isalnum() for c in t) and t not in ENGLISH_STOP_WORDS]


def content_f1(hyp: list[str], ref: list[str]) -> float:
    """``token_f1`` over content words: a generic reply ("i am not .") shares "i" and "." with
    most references, so plain token F1 rewards it over an on-topic reply worded differently
    (the generic-response problem of Li et al. 2016). A reference without content words is
    compared token for token."""
    r = content_words(ref)
    if not r:
        return token_f1(hyp, ref)
    h = content_words(hyp)
    return token_f1(h, r) if h else 0.0


SIMILARITY_GRID = (0.0, 0.2, 0.4, 0.6, 0.8)


def tune_threshold(
    cases: list[tuple[float, list[str], float, list[str], list[str]]],
    metric: Callable[[list[str], list[str]], float] = content_f1,
) -> tuple[Fallback | None, dict[str, float]]:
    """The fallback that maximises the mean ``metric`` against the references.

    ``cases``: per validation pair (confidence of the generated reply, generated tokens,
    best similarity, retrieved tokens ([] when nothing matched), reference tokens). Thresholds
    tried: never (None), above every confidence (always) and each observed confidence (every
    split of the pairs); similarities from ``SIMILARITY_GRID``. Ties keep the smaller threshold
    and the larger similarity (fewer fallbacks), so no gain, no fallback. Returns the
    fallback (None = never) and its figures: the mean metric without and with it, and the rate.
    """
    if not cases:
        return None, {}
    base = [metric(gen, ref) for _, gen, _, _, ref in cases]
    alt = [metric(ret, ref) if ret else b for (_, _, _, ret, ref), b in zip(cases, base,
                                                                             strict=True)]
    n = len(cases)
    best: tuple[float, Fallback | None, int] = (sum(base) / n, None, 0)
    thresholds = sorted({c[0] for c in cases} | {math.nextafter(max(c[0] for c in cases),
                                                                math.inf)})
    for sim in sorted(SIMILARITY_GRID, reverse=True):
        for t in thresholds:
            fb = Fallback(t, sim)
            used = [bool(c[3]) and fb.use(c[0], c[2]) for c in cases]
            score = sum(a if u else b for a, b, u in zip(alt, base, used, strict=True)) / n
            if score > best[0] + 1e-12:
                best = (score, fb, sum(used))
    return best[1], {"metric_without": round(sum(base) / n, 4), "metric_with": round(best[0], 4),
                     "fallback_rate": round(best[2] / n, 4), "pairs": n}
