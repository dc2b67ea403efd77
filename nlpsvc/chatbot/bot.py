"""A trained chatbot ready to answer: model + vocabulary + tokenizer + length limits.

Saved as three data-only files beside the manifest (no pickle: whoever can write the models
folder must not be able to run code in the server): ``model.safetensors`` (the weights, the tied
embedding stored once), ``config.json`` (model config, length limits, decoding defaults) and
``vocab.json``. Replies are computed under ``torch.inference_mode()``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from nlpsvc.chatbot import decode
from nlpsvc.chatbot.data import context_source
from nlpsvc.chatbot.model import Seq2Seq, Seq2SeqConfig
from nlpsvc.chatbot.vocab import Vocab
from nlpsvc.text import TextConfig, Tokenizer

MODEL_FILE, CONFIG_FILE, VOCAB_FILE = "model.safetensors", "config.json", "vocab.json"
FILES = (MODEL_FILE, CONFIG_FILE, VOCAB_FILE)
LEGACY_MODEL_FILE = "model.pt"  # torch.save's zip of a pickle: refused (see nlpsvc.artifacts)

_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}]|n't|'s|'m|'re|'ve|'ll|'d)(?= |$)")


def detokenize(tokens: list[str]) -> str:
    """Tokens to a readable line: no space before closing punctuation."""
    return _NO_SPACE_BEFORE.sub(r"\1", " ".join(tokens))


@dataclass
class DecodeDefaults:
    """Decoding settings used when a request does not say (config ``chatbot.decode_*``)."""

    min_len: int = 1
    no_repeat_ngram: int = 3
    length_penalty: float = 1.0
    # MMI-antiLM (greedy and beam search): weight lambda and the first gamma words it applies to
    anti_lm: float = 0.0
    anti_lm_steps: int = 0

    def __post_init__(self) -> None:
        self.anti()  # validates

    def anti(self, weight: float | None = None, steps: int | None = None) -> decode.AntiLM:
        """The anti-LM setting, a request's values over these defaults."""
        return decode.AntiLM(self.anti_lm if weight is None else weight,
                             self.anti_lm_steps if steps is None else steps)


@dataclass
class Reply:
    text: str
    alternatives: list[dict[str, Any]]  # [{"text", "score"}], best first (the reply included)
    truncated: bool  # the message was longer than the model's max source length
    source_tokens: int  # tokens of the source fed to the encoder
    max_src_len: int
    history_turns: int = 0  # earlier turns used as context
    attention: dict[str, Any] | None = field(default=None)


class Chatbot:
    """Inference wrapper; one per server worker."""

    def __init__(
        self,
        model: Seq2Seq,
        vocab: Vocab,
        text: TextConfig,
        *,
        max_src_len: int,
        max_tgt_len: int,
        context_turns: int = 0,
        defaults: DecodeDefaults | None = None,
    ) -> None:
        self.model = model.eval()
        self.vocab = vocab
        self.text = text
        self.tokenizer = Tokenizer(text)
        self.max_src_len = max_src_len
        self.max_tgt_len = max_tgt_len
        self.context_turns = context_turns
        self.defaults = defaults or DecodeDefaults()

    # -- persistence ------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> None:
        from safetensors.torch import save_model

        folder = Path(folder)
        save_model(self.model, str(folder / MODEL_FILE))  # shared (tied) tensors stored once
        cfg = {
            "model": self.model.cfg.to_dict(),
            "max_src_len": self.max_src_len,
            "max_tgt_len": self.max_tgt_len,
            "context_turns": self.context_turns,
            "decode": asdict(self.defaults),
            "text": self.text.to_dict(),
        }
        (folder / CONFIG_FILE).write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        (folder / VOCAB_FILE).write_text(json.dumps(self.vocab.to_dict()), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> Chatbot:
        """Rebuild from the three files (weights on CPU); ``model.pt`` alone is refused."""
        from safetensors.torch import load_model

        folder = Path(folder)
        if not (folder / MODEL_FILE).is_file() and (folder / LEGACY_MODEL_FILE).is_file():
            raise ValueError(f"{folder}: {LEGACY_MODEL_FILE} is a pickle this nlpsvc no longer "
                             "loads; re-train the chatbot (nlpsvc train CORPUS --only chatbot)")
        cfg = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        vocab = Vocab.from_dict(json.loads((folder / VOCAB_FILE).read_text(encoding="utf-8")))
        model = Seq2Seq(Seq2SeqConfig(**cfg["model"]))
        if model.cfg.vocab_size != len(vocab):
            raise ValueError(f"{folder}: model vocabulary size differs from vocab.json")
        load_model(model, str(folder / MODEL_FILE))
        return cls(
            model, vocab, TextConfig.from_dict(cfg["text"]),
            max_src_len=cfg["max_src_len"], max_tgt_len=cfg["max_tgt_len"],
            context_turns=cfg.get("context_turns", 0), defaults=DecodeDefaults(**cfg["decode"]),
        )

    # -- answering ------------------------------------------------------------------------------

    def source(self, message: str, history: list[str] | None = None) -> tuple[list[str], int, bool]:
        """Source tokens for a message (+ up to ``context_turns`` of history), used turn count,
        and whether it had to be cut to ``max_src_len`` (the last tokens are kept, as in training).
        """
        turns = [t for t in (self.tokenizer(h) for h in (history or [])) if t]
        used = turns[len(turns) - self.context_turns:] if self.context_turns else []
        src = context_source([*used, self.tokenizer(message)])
        truncated = len(src) > self.max_src_len
        return src[len(src) - self.max_src_len:] if truncated else src, len(used), truncated

    def reply(
        self,
        message: str,
        history: list[str] | None = None,
        *,
        beam: int = 5,
        n_best: int = 1,
        max_len: int | None = None,
        min_len: int | None = None,
        sampling: dict[str, Any] | None = None,
        no_repeat_ngram: int | None = None,
        anti_lm: float | None = None,
        anti_lm_steps: int | None = None,
        return_attention: bool = False,
    ) -> Reply:
        """Answer ``message``. ``beam == 1`` is greedy; ``sampling`` (``temperature``, ``top_k``,
        ``top_p``, ``seed``) draws ``n_best`` samples instead of searching. ``anti_lm`` /
        ``anti_lm_steps`` (MMI-antiLM, see ``decode``) rank the searches, not sampling."""
        src, used, truncated = self.source(message, history)
        ids = self.vocab.encode(src)
        d = self.defaults
        cons = decode.Constraints(
            min_len=d.min_len if min_len is None else min_len,
            max_len=max_len or self.max_tgt_len,
            no_repeat_ngram=d.no_repeat_ngram if no_repeat_ngram is None else no_repeat_ngram,
        )
        anti = d.anti(anti_lm, anti_lm_steps)
        with torch.inference_mode():
            if sampling is not None:
                hyps = decode.sample(
                    self.model, ids, n_best, cons, length_penalty=d.length_penalty,
                    return_attention=return_attention, **sampling,
                )
            elif beam == 1 and n_best == 1:
                hyps = [decode.greedy(self.model, ids, cons, length_penalty=d.length_penalty,
                                      return_attention=return_attention, anti_lm=anti)]
            else:
                hyps = decode.beam_search(
                    self.model, ids, beam, n_best, cons, length_penalty=d.length_penalty,
                    return_attention=return_attention, anti_lm=anti,
                )
        texts = [detokenize(self.vocab.decode(h.tokens)) for h in hyps]
        alternatives = [
            {"text": t, "score": round(h.score, 4)} for t, h in zip(texts, hyps, strict=True)
        ]
        attention = None
        if return_attention and hyps:
            attention = {
                "source": src or [""],
                "reply": self.vocab.decode(hyps[0].tokens),
                "weights": [[round(w, 4) for w in row] for row in hyps[0].attention],
            }
        return Reply(texts[0] if texts else "", alternatives, truncated, len(src),
                     self.max_src_len, used, attention)
