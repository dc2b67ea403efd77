"""The network: embedding -> 1-3 LSTM layers -> (projection) -> softmax over the vocabulary.

As the PyTorch word_language_model example and Zaremba et al. (2014), with the output layer tied
to the embedding (Press & Wolf 2017; Inan et al. 2017): fewer parameters and a lower perplexity.
When ``hidden_size != embedding_dim`` a linear projection brings the LSTM output down to the
embedding size so the weights can still be tied. ``softmax = "adaptive"`` replaces the output
layer with ``nn.AdaptiveLogSoftmaxWithLoss`` (untied), which costs a fraction on a CPU.
Dropout sits on the embeddings, between the LSTM layers and on the last layer's output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nlpsvc.lstm.config import ModelConfig

State = tuple[Tensor, Tensor]  # (h, c), each (num_layers, batch, hidden_size)


class LSTMNet(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.drop_emb = nn.Dropout(cfg.dropout_emb)
        self.drop_out = nn.Dropout(cfg.dropout_out)
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim)
        self.rnn = nn.LSTM(cfg.embedding_dim, cfg.hidden_size, cfg.num_layers,
                           dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        out_dim = cfg.hidden_size
        self.proj: nn.Linear | None = None
        if cfg.tie_weights and cfg.hidden_size != cfg.embedding_dim:
            self.proj = nn.Linear(cfg.hidden_size, cfg.embedding_dim, bias=False)
            out_dim = cfg.embedding_dim
        self.decoder: nn.Linear | None = None
        self.adaptive: nn.AdaptiveLogSoftmaxWithLoss | None = None
        if cfg.softmax == "adaptive":
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(
                out_dim, cfg.vocab_size, list(cfg.cutoffs), div_value=cfg.div_value)
        else:
            self.decoder = nn.Linear(out_dim, cfg.vocab_size)
            if cfg.tie_weights:
                self.decoder.weight = self.embedding.weight
        self._init_weights()

    def _init_weights(self) -> None:
        r = 0.1  # the word_language_model example's uniform init; LSTM keeps torch's default
        nn.init.uniform_(self.embedding.weight, -r, r)
        if self.decoder is not None:
            nn.init.zeros_(self.decoder.bias)
            if not self.cfg.tie_weights:
                nn.init.uniform_(self.decoder.weight, -r, r)

    def init_state(self, batch: int) -> State:
        """The zero state every sentence starts from."""
        z = self.embedding.weight.new_zeros(self.cfg.num_layers, batch, self.cfg.hidden_size)
        return z, z.clone()

    def hidden(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Top-layer outputs (T, B, D) before the output layer, and the final state."""
        x = self.drop_emb(self.embedding(ids))
        out, state = self.rnn(x, state)
        out = self.drop_out(out)
        if self.proj is not None:
            out = self.proj(out)
        return out, state

    def target_log_probs(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """Natural-log probability of ``targets`` (N,) after hidden rows (N, D): the only
        output scoring needs (the adaptive softmax then skips the tail clusters not hit)."""
        if self.adaptive is not None:
            return self.adaptive(hidden, targets).output
        logits = self.decoder(hidden)  # type: ignore[misc]
        return logits.gather(1, targets.unsqueeze(1)).squeeze(1) - torch.logsumexp(logits, 1)

    def loss(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """Summed cross-entropy (nats) of ``targets`` after hidden rows."""
        if self.adaptive is not None:
            return -self.adaptive(hidden, targets).output.sum()
        return F.cross_entropy(self.decoder(hidden), targets, reduction="sum")  # type: ignore[misc]

    def log_softmax(self, hidden: Tensor) -> Tensor:
        """Natural-log probabilities over the whole vocabulary for hidden rows (N, D)."""
        if self.adaptive is not None:
            return self.adaptive.log_prob(hidden)
        return torch.log_softmax(self.decoder(hidden), dim=-1)  # type: ignore[misc]
