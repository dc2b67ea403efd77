"""The served LSTM language model: scoring with the n-gram model's conventions, save and load.

Conventions (``nlpsvc.ngram.model``, KenLM's), so perplexities compare on the same file:
log10 per token; each sentence is ``<s>`` (context only) + words + ``</s>`` (scored and counted);
a word outside the vocabulary is scored as ``<unk>`` and flagged ``oov``; every sentence starts
from the zero state, so a text's score never depends on the other texts of a request.
``ngram_order`` of a token is its context length in tokens plus one (``<s>`` included): the LSTM
conditions on the whole prefix.

Files: ``model.safetensors`` (weights; data only, no pickle), ``config.json`` (``ModelConfig``) and
``vocab.json`` (the word list, ids in order).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nlpsvc.lstm.config import ModelConfig
from nlpsvc.lstm.model import LSTMNet
from nlpsvc.ngram.model import SentenceScore, TokenScore
from nlpsvc.ngram.vocab import BOS_ID, EOS, EOS_ID, SPECIALS, UNK_ID, Vocabulary

WEIGHTS, CONFIG, VOCAB = "model.safetensors", "config.json", "vocab.json"
FILES = (WEIGHTS, CONFIG, VOCAB)
FORMAT = "nlpsvc-lstm"
FORMAT_VERSION = 1
LN10 = math.log(10.0)
OUTPUT_ROWS = 2048  # hidden rows per output-layer slice: bounds memory at rows x vocabulary


class LstmLM:
    """An ``LSTMNet`` with its vocabulary, scoring token lists (``score_batch``, ``evaluate``)."""

    proper = True  # a softmax: scores are probabilities

    def __init__(self, net: LSTMNet, vocab: Vocabulary, batch_sentences: int = 64) -> None:
        if len(vocab) != net.cfg.vocab_size:
            raise ValueError(f"vocabulary has {len(vocab)} words, the network "
                             f"{net.cfg.vocab_size}")
        self.net = net.eval()
        self.vocab = vocab
        self.batch_sentences = batch_sentences

    @property
    def device(self) -> torch.device:
        return self.net.embedding.weight.device

    # ---------------------------------------------------------------- scoring
    def encode(self, sentences: Sequence[Sequence[str]]) -> list[list[int]]:
        """Word ids per sentence; a word outside the vocabulary (or ``<unk>``) is 0."""
        get = self.vocab.index.get
        out = []
        for s in sentences:
            if isinstance(s, str):
                raise TypeError("score_batch expects token lists, not strings")
            out.append([get(t, UNK_ID) for t in s])
        return out

    def token_log10(self, id_lists: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Per sentence, log10 p of each word and of ``</s>`` (``len + 1`` values).

        Sentences are scored in batches of similar length (longest first, right-padded: the
        LSTM is causal, so padding never reaches a real position); the output layer runs only
        on real positions, in slices of ``OUTPUT_ROWS``.
        """
        net, dev = self.net, self.device
        out: list[np.ndarray | None] = [None] * len(id_lists)
        order = sorted(range(len(id_lists)), key=lambda i: -len(id_lists[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_sentences):
                idx = order[start: start + self.batch_sentences]
                lens = [len(id_lists[i]) + 1 for i in idx]  # positions scored: words + </s>
                T, B = lens[0], len(idx)
                inp = torch.full((T, B), EOS_ID, dtype=torch.long)
                tgt = torch.full((T, B), EOS_ID, dtype=torch.long)
                inp[0] = BOS_ID
                for b, i in enumerate(idx):
                    ids = torch.as_tensor(id_lists[i], dtype=torch.long)
                    inp[1: len(ids) + 1, b] = ids
                    tgt[: len(ids), b] = ids
                inp, tgt = inp.to(dev), tgt.to(dev)
                hidden, _ = net.hidden(inp, net.init_state(B))
                if B == 1:
                    rows, targets = hidden[:, 0], tgt[:, 0]
                else:
                    mask = (torch.arange(T).unsqueeze(1) < torch.tensor(lens).unsqueeze(0)).to(dev)
                    # sentence-major order, so each sentence's positions are contiguous
                    rows, targets = hidden.transpose(0, 1)[mask.t()], tgt.t()[mask.t()]
                lp = torch.empty(rows.size(0), device=dev)
                for r in range(0, rows.size(0), OUTPUT_ROWS):
                    lp[r: r + OUTPUT_ROWS] = net.target_log_probs(rows[r: r + OUTPUT_ROWS],
                                                                  targets[r: r + OUTPUT_ROWS])
                flat = (lp.double() / LN10).cpu().numpy()
                pos = 0
                for b, i in enumerate(idx):
                    out[i] = flat[pos: pos + lens[b]]
                    pos += lens[b]
        return out  # type: ignore[return-value]

    def score_batch(self, sentences: Sequence[Sequence[str]],
                    per_token: bool = False) -> list[SentenceScore]:
        """Score tokenised sentences (``<s>``/``</s>`` added), each from a fresh state."""
        if any(isinstance(s, str) for s in sentences):
            raise TypeError("score_batch expects token lists, not strings")
        sentences = [s if isinstance(s, list | tuple) else list(s) for s in sentences]
        id_lists = self.encode(sentences)
        results = []
        for s, ids, lp in zip(sentences, id_lists, self.token_log10(id_lists), strict=True):
            total = float(lp.sum())
            n = len(ids) + 1
            oov = sum(1 for i in ids if i == UNK_ID)
            toks = None
            if per_token:
                names = [*s, EOS]
                flags = [i == UNK_ID for i in ids] + [False]
                toks = [TokenScore(str(name), float(x), k + 2, f)
                        for k, (name, x, f) in enumerate(zip(names, lp.tolist(), flags,
                                                              strict=True))]
            results.append(SentenceScore(total, n, oov, float(10.0 ** (-total / n)), toks))
        return results

    def score(self, tokens: Sequence[str], per_token: bool = False) -> SentenceScore:
        return self.score_batch([tokens], per_token=per_token)[0]

    def evaluate(self, sentences: Iterable[Sequence[str]], chunk: int = 4096) -> dict[str, Any]:
        """Corpus perplexity with the n-gram model's conventions (``NgramModel.evaluate``)."""
        total = oov_total = 0.0
        tokens = oov = sents = 0
        batch: list[Sequence[str]] = []

        def flush() -> None:
            nonlocal total, oov_total, tokens, oov, sents
            ids = self.encode(batch)
            for s_ids, lp in zip(ids, self.token_log10(ids), strict=True):
                unk = np.fromiter((i == UNK_ID for i in s_ids), bool, len(s_ids))
                total += float(lp.sum())
                oov_total += float(lp[:-1][unk].sum())
                tokens += len(s_ids) + 1
                oov += int(unk.sum())
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
        return {
            "perplexity": 10.0 ** (-total / tokens),
            "perplexity_excluding_oovs": (10.0 ** (-(total - oov_total) / (tokens - oov))
                                          if tokens > oov else None),
            "log10_prob": total, "tokens": tokens, "oov": oov, "sentences": sents,
            "proper": True,
        }

    def evaluate_running(self, sentences: Iterable[Sequence[str]],
                         streams: int = 10, bptt: int = 200) -> dict[str, Any]:
        """The running-text figure papers report (``lstm.carry_state``): the state is carried
        across sentences over ``streams`` parallel slices of the text. Not comparable with the
        per-sentence figure of ``evaluate``, which each ``/score`` text gets."""
        from nlpsvc.lstm.data import stream_ids

        data = stream_ids(sentences, self.vocab)
        n = data.numel() // streams
        if n < 2:
            raise ValueError("too little text for a running-text evaluation")
        data = data[: n * streams].view(streams, n).t().to(self.device)
        total, tokens = 0.0, 0
        net = self.net
        with torch.inference_mode():
            state = net.init_state(streams)
            for i in range(0, n - 1, bptt):
                k = min(bptt, n - 1 - i)
                hidden, state = net.hidden(data[i: i + k], state)
                tgt = data[i + 1: i + 1 + k].reshape(-1)
                keep = tgt != BOS_ID  # sentence starts are given, not predicted
                lp = net.target_log_probs(hidden.reshape(-1, hidden.size(-1))[keep], tgt[keep])
                total += float(lp.double().sum()) / LN10
                tokens += int(keep.sum())
        return {"perplexity": 10.0 ** (-total / tokens), "tokens": tokens,
                "mode": f"running text, state carried across sentences ({streams} streams)"}

    def next_log10probs(self, context: Sequence[str]) -> np.ndarray:
        """log10 p(w | <s> + context) for every word id w (sums to 1 in probability)."""
        ids = [BOS_ID, *self.encode([context])[0]]
        with torch.inference_mode():
            inp = torch.tensor(ids, device=self.device).unsqueeze(1)
            hidden, _ = self.net.hidden(inp, self.net.init_state(1))
            lp = self.net.log_softmax(hidden[-1])[0]
        return (lp.double() / LN10).cpu().numpy()

    # ---------------------------------------------------------------- files
    def save(self, folder: str | Path) -> None:
        """``model.safetensors`` + ``config.json`` + ``vocab.json`` (data only)."""
        from safetensors.torch import save_model

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_model(self.net, str(folder / WEIGHTS))  # tied weights stored once
        cfg = {"format": FORMAT, "format_version": FORMAT_VERSION,
               "model": self.net.cfg.to_dict()}
        (folder / CONFIG).write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        (folder / VOCAB).write_text(json.dumps(self.vocab.words, ensure_ascii=False),
                                    encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> LstmLM:
        from safetensors.torch import load_model

        folder = Path(folder)
        cfg = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        if cfg.get("format") != FORMAT or cfg.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{folder}: format {cfg.get('format')!r} "
                             f"v{cfg.get('format_version')!r}, this nlpsvc reads {FORMAT} "
                             f"v{FORMAT_VERSION}; retrain the model")
        words = json.loads((folder / VOCAB).read_text(encoding="utf-8"))
        if list(words[:3]) != list(SPECIALS):
            raise ValueError(f"{folder / VOCAB}: must start with {', '.join(SPECIALS)}")
        vocab = Vocabulary(words[3:])
        if vocab.words != words:
            raise ValueError(f"{folder / VOCAB}: duplicate words")
        net = LSTMNet(ModelConfig.from_dict(cfg["model"]))
        load_model(net, str(folder / WEIGHTS))
        return cls(net, vocab)
