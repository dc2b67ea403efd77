"""A trained chatbot ready to answer: model + vocabulary + tokenizer + length limits.

Saved as data-only files beside the manifest (no pickle: whoever can write the models folder
must not be able to run code in the server): ``model.safetensors`` (the weights, the tied
embedding stored once), ``config.json`` (model config, length limits, decoding defaults),
``vocab.json`` and, when the pipeline built one, ``retrieval.json`` (the fallback's index of
training replies, ``nlpsvc.chatbot.retrieval``). Replies are computed under
``torch.inference_mode()``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from nlpsvc.chatbot import decode
from nlpsvc.chatbot.data import collate, context_source
from nlpsvc.chatbot.model import Seq2Seq, Seq2SeqConfig
from nlpsvc.chatbot.retrieval import Fallback, ReplyIndex
from nlpsvc.chatbot.vocab import PAD_ID, SOS_ID, Vocab
from nlpsvc.text import TextConfig, Tokenizer

MODEL_FILE, CONFIG_FILE, VOCAB_FILE = "model.safetensors", "config.json", "vocab.json"
FILES = (MODEL_FILE, CONFIG_FILE, VOCAB_FILE)
RETRIEVAL_FILE = "retrieval.json"  # optional: artifacts without it never fall back
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
    no_repeat_word: bool = True  # never the same word twice in a row (``decode.Constraints``)
    # retrieval fallback (greedy and beam search): a generated reply whose mean log-probability
    # per token is below the threshold is replaced by the training reply of the most similar
    # prompt, when its similarity reaches the minimum; None = never (tuned by the pipeline)
    fallback_threshold: float | None = None
    fallback_min_similarity: float = 0.0

    def __post_init__(self) -> None:
        self.anti()  # validates
        if not 0.0 <= self.fallback_min_similarity <= 1.0:
            raise ValueError("fallback_min_similarity must be in [0, 1]")

    @property
    def fallback(self) -> Fallback | None:
        if self.fallback_threshold is None:
            return None
        return Fallback(self.fallback_threshold, self.fallback_min_similarity)

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
    retrieved: bool = False  # the reply is a training reply (the retrieval fallback)
    confidence: float | None = None  # generated reply's mean log-probability per token


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
        index: ReplyIndex | None = None,
    ) -> None:
        self.model = model.eval()
        self.vocab = vocab
        self.text = text
        self.tokenizer = Tokenizer(text)
        self.max_src_len = max_src_len
        self.max_tgt_len = max_tgt_len
        self.context_turns = context_turns
        self.defaults = defaults or DecodeDefaults()
        self.index = index

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
        if self.index is not None:
            (folder / RETRIEVAL_FILE).write_text(json.dumps(self.index.to_dict()),
                                                 encoding="utf-8")

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
        index = None
        if (folder / RETRIEVAL_FILE).is_file():
            index = ReplyIndex.from_dict(
                json.loads((folder / RETRIEVAL_FILE).read_text(encoding="utf-8")))
        return cls(
            model, vocab, TextConfig.from_dict(cfg["text"]),
            max_src_len=cfg["max_src_len"], max_tgt_len=cfg["max_tgt_len"],
            context_turns=cfg.get("context_turns", 0), defaults=DecodeDefaults(**cfg["decode"]),
            index=index,
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

    @torch.inference_mode()
    def score_replies(self, src_ids: list[int], replies: list[list[str]]) -> list[float]:
        """Each reply's model score, as the searches rank: natural-log p(reply + ``</s>`` |
        source), teacher-forced, divided by its length ** ``length_penalty``."""
        if not replies:
            return []
        batch = collate([(src_ids or [PAD_ID], self.vocab.encode(r)) for r in replies])
        log_probs = self.model(batch.src, batch.src_len, batch.tgt_in)  # (B, T, V)
        picked = log_probs.gather(-1, batch.tgt_out.unsqueeze(-1)).squeeze(-1)  # (B, T)
        sums = (picked * batch.mask).sum(-1).tolist()
        alpha = self.defaults.length_penalty
        return [s / (len(r) + 1) ** alpha if alpha else s
                for s, r in zip(sums, replies, strict=True)]

    @torch.inference_mode()
    def forced_attention(self, src_ids: list[int], reply: list[str]) -> list[list[float]]:
        """Attention weights over the source for each word of a given reply (teacher-forced),
        as the searches return them for their own replies."""
        memory, state = decode.encode_one(self.model, src_ids)
        y, rows = torch.tensor([SOS_ID]), []
        for tok in self.vocab.encode(reply):
            _, state, weights = self.model.decoder.step(y, state, memory)
            rows.append([round(w, 4) for w in weights[0].tolist()])
            y = torch.tensor([tok])
        return rows

    def fallback(self, src: list[str], hyp: decode.Hypothesis
                 ) -> list[tuple[list[str], float]] | None:
        """The training replies (tokens, model score; best first) that replace the searched
        ``hyp`` under the defaults' fallback rule, or None when ``hyp`` stays."""
        rule = self.defaults.fallback
        if rule is None or self.index is None or confidence_of(hyp) >= rule.threshold:
            return None
        found = self.retrieve_all(src)
        if not found or not rule.use(confidence_of(hyp), found[0][1]):
            return None
        return [(reply, score) for reply, _, score in found]

    def answer(self, src: list[str], beam: int = 1, *, fallback: bool = True
               ) -> tuple[list[str], bool, decode.Hypothesis]:
        """The default reply to source tokens (evaluation and benchmarks, where messages are
        already tokenised): greedy (``beam == 1``) or beam search with the default constraints,
        then the fallback. Returns (reply tokens, retrieved?, the searched hypothesis)."""
        d = self.defaults
        cons = decode.Constraints(min_len=d.min_len, max_len=self.max_tgt_len,
                                  no_repeat_ngram=d.no_repeat_ngram,
                                  no_repeat_word=d.no_repeat_word)
        ids = self.vocab.encode(src)
        with torch.inference_mode():
            if beam == 1:
                hyp = decode.greedy(self.model, ids, cons, length_penalty=d.length_penalty,
                                    anti_lm=d.anti())
            else:
                hyp = decode.beam_search(self.model, ids, beam, 1, cons,
                                         length_penalty=d.length_penalty, anti_lm=d.anti())[0]
            found = self.fallback(src, hyp) if fallback else None
        if found is not None:
            return found[0][0], True, hyp
        return self.vocab.decode(hyp.tokens), False, hyp

    def retrieve_all(self, src: list[str]) -> list[tuple[list[str], float, float]]:
        """The fallback's candidates for source tokens ``src``: (reply tokens, prompt
        similarity, model score) of the training replies tied at the best similarity (one
        prompt is often answered several ways), highest model score first; [] without an index
        or a prompt sharing a word."""
        matches = self.index.search(src) if self.index is not None else []
        scores = self.score_replies(self.vocab.encode(src), [m.reply for m in matches])
        found = [(m.reply, m.similarity, sc) for m, sc in zip(matches, scores, strict=True)]
        return sorted(found, key=lambda f: -f[2])  # stable: ties keep first-seen order

    def retrieve(self, src: list[str]) -> tuple[list[str], float, float] | None:
        """The best of ``retrieve_all``, or None."""
        found = self.retrieve_all(src)
        return found[0] if found else None

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
        fallback: bool = True,
    ) -> Reply:
        """Answer ``message``. ``beam == 1`` is greedy; ``sampling`` (``temperature``, ``top_k``,
        ``top_p``, ``seed``) draws ``n_best`` samples instead of searching. ``anti_lm`` /
        ``anti_lm_steps`` (MMI-antiLM, see ``decode``) rank the searches, not sampling.
        A search's unsure reply is replaced by a training reply (``DecodeDefaults.fallback``;
        ``fallback=False`` turns it off); the alternatives are then the training replies of the
        best-matching prompt, with the model's scores of them, followed by the search's own
        replies up to ``n_best``."""
        src, used, truncated = self.source(message, history)
        ids = self.vocab.encode(src)
        d = self.defaults
        cons = decode.Constraints(
            min_len=d.min_len if min_len is None else min_len,
            max_len=max_len or self.max_tgt_len,
            no_repeat_ngram=d.no_repeat_ngram if no_repeat_ngram is None else no_repeat_ngram,
            no_repeat_word=d.no_repeat_word,
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
        confidence = confidence_of(hyps[0]) if hyps else None
        if fallback and sampling is None and hyps:
            found = self.fallback(src, hyps[0])
            if found is not None:  # the alternatives: the retrieved replies, best score first,
                generated = alternatives  # then the model's own replies up to n_best
                alternatives = [{"text": detokenize(r), "score": round(sc, 4)}
                                for r, sc in found[:n_best]]
                seen = {a["text"] for a in alternatives}
                for a in generated:
                    if len(alternatives) >= n_best:
                        break
                    if a["text"] not in seen:
                        alternatives.append(a)
                        seen.add(a["text"])
                attention = None
                if return_attention:
                    attention = {"source": src or [""], "reply": found[0][0],
                                 "weights": self.forced_attention(ids, found[0][0])}
                return Reply(alternatives[0]["text"], alternatives, truncated, len(src),
                             self.max_src_len, used, attention, True, confidence)
        attention = None
        if return_attention and hyps:
            attention = {
                "source": src or [""],
                "reply": self.vocab.decode(hyps[0].tokens),
                "weights": [[round(w, 4) for w in row] for row in hyps[0].attention],
            }
        return Reply(texts[0] if texts else "", alternatives, truncated, len(src),
                     self.max_src_len, used, attention, False, confidence)


def confidence_of(hyp: decode.Hypothesis) -> float:
    """A hypothesis' mean natural-log probability per token (``</s>`` counted when emitted):
    the fallback's measure, whatever the length penalty or anti-LM weight of the search."""
    return hyp.log_prob / max(len(hyp.tokens) + int(hyp.finished), 1)
