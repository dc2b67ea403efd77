"""Language-model scoring shared by ``POST /score``, ``nlpsvc score`` and ``nlpsvc eval``.

One place turns a loaded LM (n-gram or LSTM: anything with ``score_batch(token_lists,
per_token=False)``) plus the tokenizer it was trained with into the JSON records of SPEC §4:
``{"text", "tokens", "log10_prob", "perplexity", "oov", "per_token"?}``. All log
probabilities are log10. A non-finite figure (an MLE model's zero probability) is ``null``
in JSON, which has no infinity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from nlpsvc.artifacts import Artifact
from nlpsvc.text import TextConfig, Tokenizer
from nlpsvc.textio import read_lines


def _get(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def finite(x: float | None) -> float | None:
    """``x`` as a float, or None when it is missing, infinite or NaN."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def format_result(text: str, res: Any, per_token: bool) -> dict[str, Any]:
    """One SPEC §4 ``/score`` result from an LM's per-sentence result (a dict, or an object
    with those attributes: read directly, as this runs on every ``/score`` request)."""
    if isinstance(res, dict):
        tokens, lp, ppl, oov = res["tokens"], res["log10_prob"], res["perplexity"], res["oov"]
    else:
        tokens, lp, ppl, oov = res.tokens, res.log10_prob, res.perplexity, res.oov
    out: dict[str, Any] = {"text": text, "tokens": int(tokens), "log10_prob": finite(lp),
                           "perplexity": finite(ppl), "oov": int(oov)}
    if per_token:
        out["per_token"] = [
            {
                "token": str(_get(t, "token")),
                "log10_prob": finite(_get(t, "log10_prob")),
                "ngram_order": int(_get(t, "ngram_order")),
                "oov": bool(_get(t, "oov")),
            }
            for t in _get(res, "per_token")
        ]
    return out


@dataclass
class LanguageModel:
    """A loaded LM together with the tokenizer it was trained with."""

    model: Any  # has score_batch(list[list[str]], per_token=False)
    tokenizer: Tokenizer
    artifact: Artifact | None = None

    @classmethod
    def from_artifact(cls, artifact: Artifact, model: Any) -> LanguageModel:
        text = TextConfig.from_dict(artifact.manifest.get("text"))
        return cls(model=model, tokenizer=Tokenizer(text), artifact=artifact)

    def score_texts(self, texts: Sequence[str], per_token: bool = False) -> list[dict[str, Any]]:
        """SPEC §4 results for ``texts``, in order. A batch for a whitespace tokenizer goes to
        the model's ``score_lines`` where it has one (the n-gram kernel splits the normalised
        lines itself: the same tokens, ~40 ns a token less than a token list each); one text
        keeps ``score_batch``'s one-sentence path (a /score request's latency)."""
        if (not per_token and len(texts) > 1 and self.tokenizer.config.tokenizer == "whitespace"
                and hasattr(self.model, "score_lines")):
            normalize = self.tokenizer.normalize
            results = self.model.score_lines([normalize(t) for t in texts])
        else:
            token_lists = [self.tokenizer(t) for t in texts]
            results = self.model.score_batch(token_lists, per_token=per_token)
        return [format_result(t, r, per_token) for t, r in zip(texts, results, strict=True)]

    def evaluate(self, texts: Iterable[str], batch: int = 4096) -> dict[str, Any]:
        """Corpus figures over ``texts`` (``perplexity``, ``tokens``, ``oov``, ``log10_prob``).

        Texts are tokenised with the model's own settings; texts with no token are skipped, as
        in training. The model's ``evaluate`` applies its conventions (KenLM's: each sentence
        end is a token, OOVs are scored as ``<unk>`` and counted). Non-finite figures are None.
        """
        tokenizer = self.tokenizer

        def token_lists() -> Iterator[list[str]]:
            for t in texts:
                if toks := tokenizer(t):
                    yield toks

        if hasattr(self.model, "evaluate"):
            result = dict(self.model.evaluate(token_lists()))
        else:  # any LM with score_batch: perplexity = 10 ** (-sum log10 p / tokens)
            total, tokens, oov, sentences = 0.0, 0, 0, 0
            it = token_lists()
            while chunk := list(islice(it, batch)):
                for res in self.model.score_batch(chunk, per_token=False):
                    total += float(_get(res, "log10_prob"))
                    tokens += int(_get(res, "tokens"))
                    oov += int(_get(res, "oov"))
                    sentences += 1
            if tokens == 0:
                raise ValueError("no text to evaluate")
            result = {"perplexity": 10.0 ** (-total / tokens), "log10_prob": total,
                      "tokens": tokens, "oov": oov, "sentences": sentences}
        return {k: finite(v) if isinstance(v, float) else v for k, v in result.items()}

    def evaluate_file(self, path: str | Path) -> dict[str, Any]:
        """``evaluate`` over a text file's non-blank lines (plain or compressed)."""
        def lines() -> Iterator[str]:
            for _, line in read_lines(Path(path)):
                if line.strip():
                    yield line

        return self.evaluate(lines())
