"""The ``mix`` kind: per-token linear interpolation ``λ·p_lstm + (1−λ)·p_ngram``.

Both models score the same tokens (``<s>`` context, words, ``</s>``) from the same tokenizer, so
the token streams line up one to one. λ is tuned on the validation split when the LSTM is trained
(``tune_lambda``) and stored in the LSTM manifest under ``mix``. A token is flagged ``oov`` when
either model scores it as ``<unk>``; ``ngram_order`` is the LSTM's (the whole prefix).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from nlpsvc.ngram.model import SentenceScore, TokenScore

DEFAULT_LAMBDA = 0.5  # used only when the manifest has no tuned value (no n-gram at training)
LN10 = math.log(10.0)


def interpolate(lstm_lp: np.ndarray, ngram_lp: np.ndarray, lam: float) -> np.ndarray:
    """log10(λ·10^a + (1−λ)·10^b) per token, computed in log space (no underflow)."""
    a, b = np.asarray(lstm_lp, float), np.asarray(ngram_lp, float)
    if lam >= 1.0:
        return a.copy()
    if lam <= 0.0:
        return b.copy()
    return np.logaddexp(math.log(lam) + a * LN10, math.log1p(-lam) + b * LN10) / LN10


def tune_lambda(lstm_lp: np.ndarray, ngram_lp: np.ndarray, tol: float = 1e-4) -> float:
    """The λ in [0, 1] with the lowest perplexity of the mix on these tokens.

    The mix's log-likelihood is concave in λ, so a golden-section search finds the optimum.
    """
    def loss(lam: float) -> float:
        return -float(interpolate(lstm_lp, ngram_lp, lam).sum())

    lo, hi = 0.0, 1.0
    g = (math.sqrt(5) - 1) / 2
    x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
    f1, f2 = loss(x1), loss(x2)
    while hi - lo > tol:
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - g * (hi - lo)
            f1 = loss(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + g * (hi - lo)
            f2 = loss(x2)
    best = round((lo + hi) / 2, 4)
    return min((best, 0.0, 1.0), key=loss)  # an end point wins when one model adds nothing


class MixModel:
    """An LSTM LM and an n-gram LM of one corpus, interpolated token by token."""

    proper = True

    def __init__(self, lstm: Any, ngram: Any, lam: float) -> None:
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"mix weight λ must be in [0, 1], got {lam}")
        if not getattr(ngram, "proper", True):
            raise ValueError("mix needs an n-gram model whose scores are probabilities "
                             "(not stupid backoff)")
        self.lstm, self.ngram, self.lam = lstm, ngram, float(lam)

    def score_batch(self, sentences: Sequence[Sequence[str]],
                    per_token: bool = False) -> list[SentenceScore]:
        sentences = [s if isinstance(s, list | tuple) else list(s) for s in sentences]
        lstm = self.lstm.score_batch(sentences, per_token=True)
        ngram = self.ngram.score_batch(sentences, per_token=True)
        out = []
        for a, b in zip(lstm, ngram, strict=True):
            lp = interpolate(np.array([t.log10_prob for t in a.per_token]),
                             np.array([t.log10_prob for t in b.per_token]), self.lam)
            flags = [x.oov or y.oov for x, y in zip(a.per_token, b.per_token, strict=True)]
            total, n = float(lp.sum()), len(flags)
            toks = None
            if per_token:
                toks = [TokenScore(t.token, float(x), t.ngram_order, f)
                        for t, x, f in zip(a.per_token, lp.tolist(), flags, strict=True)]
            out.append(SentenceScore(total, n, sum(flags), float(10.0 ** (-total / n)), toks))
        return out

    def evaluate(self, sentences: Iterable[Sequence[str]], chunk: int = 2048) -> dict[str, Any]:
        """Corpus perplexity of the mix (the n-gram model's conventions)."""
        total, tokens, oov, sents = 0.0, 0, 0, 0
        batch: list[Sequence[str]] = []

        def flush() -> None:
            nonlocal total, tokens, oov, sents
            for r in self.score_batch(batch):
                total += r.log10_prob
                tokens += r.tokens
                oov += r.oov
            sents += len(batch)
            batch.clear()

        for s in sentences:
            batch.append(s)
            if len(batch) >= chunk:
                flush()
        if batch:
            flush()
        if tokens == 0:
            raise ValueError("nothing to evaluate: no sentences")
        return {"perplexity": 10.0 ** (-total / tokens), "log10_prob": total, "tokens": tokens,
                "oov": oov, "sentences": sents, "lambda": self.lam}

