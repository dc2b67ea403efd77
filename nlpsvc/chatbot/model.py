"""The seq2seq chatbot's modules: shared embedding, bi-LSTM encoder, attention, LSTM decoder.

Pure ``nn.Module`` code (no I/O). ``Seq2SeqConfig`` is stored as JSON beside the ``state_dict``
so a model is rebuilt from its files alone. The decoder runs one step per call
(``Decoder.step``); training (``Seq2Seq.forward``) and every search in ``decode.py`` call it.

Attention (``Seq2SeqConfig.attention``):
- Luong ``dot`` / ``general`` / ``concat``: the decoder LSTM runs first, its new top state ``h_t``
  queries the encoder, and ``tanh(W_c [c_t; h_t])`` is the attentional vector that predicts the
  word and (with input feeding) is fed to the next step's LSTM input.
- Bahdanau ``bahdanau`` (additive): the previous top state ``h_{t-1}`` queries the encoder and the
  context ``c_t`` joins the word embedding at the LSTM input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

ATTENTIONS = ("dot", "general", "concat", "bahdanau")


@dataclass
class Seq2SeqConfig:
    vocab_size: int
    embedding_dim: int = 256  # shared by encoder input, decoder input and (tied) output
    hidden_size: int = 256  # per direction in the encoder; decoder state size
    num_layers: int = 2  # encoder and decoder LSTM layers
    attention: str = "general"  # dot | general | concat | bahdanau
    input_feeding: bool = True  # Luong: feed the last attentional vector to the next step
    dropout: float = 0.3  # on embeddings, between LSTM layers and before the output layer
    tie_embeddings: bool = True  # output layer reuses the embedding matrix
    pad_id: int = 0

    def __post_init__(self) -> None:
        if self.attention not in ATTENTIONS:
            raise ValueError(
                f"unknown attention {self.attention!r}; expected one of {', '.join(ATTENTIONS)}"
            )
        if self.vocab_size < 1 or self.hidden_size < 1 or self.embedding_dim < 1:
            raise ValueError("vocab_size, hidden_size and embedding_dim must be positive")
        if self.num_layers < 1:
            raise ValueError("num_layers must be at least 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- attention -------------------------------------------------------------------------------


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the source axis with padding excluded. scores, mask: (B, S)."""
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


class Attention(nn.Module):
    """Base: ``forward(query (B,H), keys (B,S,H), mask (B,S)) -> context (B,H), weights (B,S)``.

    ``prepare(keys)`` precomputes what depends on the source only (once per reply, not per step).
    """

    def prepare(self, keys: Tensor) -> Tensor:
        return keys

    def score(self, query: Tensor, keys: Tensor, prepared: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        mask: Tensor,
        prepared: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        prepared = self.prepare(keys) if prepared is None else prepared
        weights = masked_softmax(self.score(query, keys, prepared), mask)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (B,1,S)@(B,S,H) -> (B,H)
        return context, weights


class DotAttention(Attention):
    """Luong dot: ``score = k · q``."""

    def score(self, query: Tensor, keys: Tensor, prepared: Tensor) -> Tensor:
        return torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (B, S, H) @ (B, H, 1) -> (B, S)


class GeneralAttention(Attention):
    """Luong general: ``score = k · W q`` (computed as ``(W^T k) · q``, W^T k precomputed)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.W = nn.Linear(hidden, hidden, bias=False)

    def prepare(self, keys: Tensor) -> Tensor:
        return keys @ self.W.weight  # (B, S, H): row s is W^T k_s

    def score(self, query: Tensor, keys: Tensor, prepared: Tensor) -> Tensor:
        return torch.bmm(prepared, query.unsqueeze(2)).squeeze(2)  # (B, S)


class ConcatAttention(Attention):
    """Luong concat: ``score = v · tanh(W [q; k])``."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.W = nn.Linear(2 * hidden, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)

    def prepare(self, keys: Tensor) -> Tensor:
        h = keys.size(-1)
        return F.linear(keys, self.W.weight[:, h:], self.W.bias)  # (B, S, H): key half

    def score(self, query: Tensor, keys: Tensor, prepared: Tensor) -> Tensor:
        h = query.size(-1)
        q = F.linear(query, self.W.weight[:, :h]).unsqueeze(1)  # (B, 1, H)
        return self.v(torch.tanh(prepared + q)).squeeze(2)  # (B, S)


class BahdanauAttention(Attention):
    """Bahdanau additive: ``score = v · tanh(W_q q + W_k k)``."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.W_q = nn.Linear(hidden, hidden)
        self.W_k = nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Linear(hidden, 1, bias=False)

    def prepare(self, keys: Tensor) -> Tensor:
        return self.W_k(keys)  # (B, S, H)

    def score(self, query: Tensor, keys: Tensor, prepared: Tensor) -> Tensor:
        return self.v(torch.tanh(prepared + self.W_q(query).unsqueeze(1))).squeeze(2)  # (B, S)


def make_attention(method: str, hidden: int) -> Attention:
    """The attention module for ``method``; an unknown method is an error, not a default."""
    if method == "dot":
        return DotAttention()
    if method == "general":
        return GeneralAttention(hidden)
    if method == "concat":
        return ConcatAttention(hidden)
    if method == "bahdanau":
        return BahdanauAttention(hidden)
    raise ValueError(f"unknown attention {method!r}; expected one of {', '.join(ATTENTIONS)}")


# --- encoder / decoder -----------------------------------------------------------------------


class Memory(NamedTuple):
    """What the decoder attends to, for one batch of sources."""

    keys: Tensor  # (B, S, H) encoder outputs, both directions summed
    mask: Tensor  # (B, S) True at real tokens
    prepared: Tensor  # (B, S, H) attention's source-only precomputation

    def index_select(self, index: Tensor) -> Memory:
        return Memory(*(t.index_select(0, index) for t in self))


class DecoderState(NamedTuple):
    h: Tensor  # (L, B, H)
    c: Tensor  # (L, B, H)
    feed: Tensor  # (B, H) last attentional vector (Luong input feeding); zeros at start

    def index_select(self, index: Tensor) -> DecoderState:
        return DecoderState(
            self.h.index_select(1, index), self.c.index_select(1, index),
            self.feed.index_select(0, index),
        )


class Encoder(nn.Module):
    """Bidirectional multi-layer LSTM over packed sequences; directions are summed."""

    def __init__(self, cfg: Seq2SeqConfig, embedding: nn.Embedding) -> None:
        super().__init__()
        self.embedding = embedding
        self.dropout = nn.Dropout(cfg.dropout)
        self.rnn = nn.LSTM(
            cfg.embedding_dim, cfg.hidden_size, cfg.num_layers, batch_first=True,
            bidirectional=True, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )

    def forward(
        self, src: Tensor, src_len: Tensor
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """src (B, S), src_len (B,) -> outputs (B, S, H), (h, c) each (L, B, H)."""
        x = self.dropout(self.embedding(src))  # (B, S, E)
        lengths = src_len.cpu()
        if bool((lengths == src.size(1)).all()):  # no padding (e.g. one message): skip packing
            out, (h, c) = self.rnn(x)  # (B, S, 2H)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, (h, c) = self.rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        hsz = self.rnn.hidden_size
        out = out[..., :hsz] + out[..., hsz:]  # (B, S, H)
        layers, b = self.rnn.num_layers, src.size(0)
        h = h.view(layers, 2, b, hsz).sum(1)  # (L*2, B, H) -> (L, 2, B, H) -> (L, B, H)
        c = c.view(layers, 2, b, hsz).sum(1)
        return out, (h, c)


class Decoder(nn.Module):
    """LSTM decoder with attention, one step per call."""

    def __init__(self, cfg: Seq2SeqConfig, embedding: nn.Embedding) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = embedding
        self.luong = cfg.attention != "bahdanau"
        extra = cfg.hidden_size if (cfg.input_feeding or not self.luong) else 0
        self.dropout = nn.Dropout(cfg.dropout)
        # A stack of LSTMCells, not nn.LSTM: one step at a time, cells are ~4x faster on CPU.
        self.cells = nn.ModuleList(
            nn.LSTMCell(cfg.embedding_dim + extra if i == 0 else cfg.hidden_size, cfg.hidden_size)
            for i in range(cfg.num_layers)
        )
        self.attention = make_attention(cfg.attention, cfg.hidden_size)
        self.combine = nn.Linear(2 * cfg.hidden_size, cfg.hidden_size)  # W_c [c_t; h_t]
        if cfg.tie_embeddings:
            # project to the embedding size, then score against the (shared) embedding matrix
            self.pre_out = nn.Linear(cfg.hidden_size, cfg.embedding_dim, bias=False)
            self.out_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        else:
            self.out = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    def logits(self, attentional: Tensor) -> Tensor:
        """(B, H) -> (B, V) unnormalised scores."""
        x = self.dropout(attentional)
        if self.cfg.tie_embeddings:
            return F.linear(self.pre_out(x), self.embedding.weight, self.out_bias)
        return self.out(x)

    def rnn(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One step of the stacked LSTM: x (B, I), h/c (L, B, H) -> top output (B, H), h, c."""
        hs, cs = [], []
        inp = x
        for i, cell in enumerate(self.cells):
            hi, ci = cell(inp, (h[i], c[i]))
            hs.append(hi)
            cs.append(ci)
            inp = self.dropout(hi) if i + 1 < len(self.cells) else hi  # between layers only
        return inp, torch.stack(hs), torch.stack(cs)  # L x (B, H) -> (L, B, H)

    def step(
        self, y_prev: Tensor, state: DecoderState, memory: Memory
    ) -> tuple[Tensor, DecoderState, Tensor]:
        """One decoding step.

        y_prev (B,) previous word ids -> log-probabilities (B, V), new state, attention (B, S).
        """
        emb = self.dropout(self.embedding(y_prev))  # (B, E)
        if self.luong:
            x = torch.cat([emb, state.feed], dim=1) if self.cfg.input_feeding else emb
            query, h, c = self.rnn(x, state.h, state.c)  # query (B, H) = h_t (top layer)
            context, weights = self.attention(query, memory.keys, memory.mask, memory.prepared)
        else:
            query = state.h[-1]  # (B, H) = h_{t-1} (top layer)
            context, weights = self.attention(query, memory.keys, memory.mask, memory.prepared)
            x = torch.cat([emb, context], dim=1)  # (B, E + H)
            query, h, c = self.rnn(x, state.h, state.c)  # (B, H) = h_t
        attentional = torch.tanh(self.combine(torch.cat([context, query], dim=1)))  # (B, H)
        log_probs = F.log_softmax(self.logits(attentional), dim=-1)  # (B, V)
        return log_probs, DecoderState(h, c, attentional), weights


class Seq2Seq(nn.Module):
    """Encoder + decoder sharing one embedding matrix."""

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim, padding_idx=cfg.pad_id)
        self.encoder = Encoder(cfg, self.embedding)
        self.decoder = Decoder(cfg, self.embedding)

    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Memory, DecoderState]:
        keys, (h, c) = self.encoder(src, src_len)
        mask = src != self.cfg.pad_id  # (B, S)
        # a source of only padding (empty message) still needs one attendable position
        mask[:, 0] = True
        prepared = self.decoder.attention.prepare(keys)
        feed = keys.new_zeros(src.size(0), self.cfg.hidden_size)  # (B, H)
        return Memory(keys, mask, prepared), DecoderState(h, c, feed)

    def forward(
        self,
        src: Tensor,
        src_len: Tensor,
        tgt_in: Tensor,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Log-probabilities (B, T, V) of each next word given ``tgt_in`` (B, T).

        With ``teacher_forcing < 1`` each step feeds, with that probability, the true previous
        word, otherwise the model's own best guess (the same choice for the whole batch).
        """
        memory, state = self.encode(src, src_len)
        steps = tgt_in.size(1)
        forced = torch.ones(steps, dtype=torch.bool)
        if teacher_forcing < 1.0:
            forced = torch.rand(steps, generator=generator) < teacher_forcing
        y = tgt_in[:, 0]
        outputs = []
        for t in range(steps):
            log_probs, state, _ = self.decoder.step(y, state, memory)
            outputs.append(log_probs)
            if t + 1 < steps:
                y = tgt_in[:, t + 1] if forced[t + 1] else log_probs.argmax(-1).detach()
        return torch.stack(outputs, dim=1)  # T x (B, V) -> (B, T, V)
