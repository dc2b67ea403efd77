"""The LSTM LM's settings: ``ModelConfig`` (stored with the weights) and ``LstmConfig`` (the
``[lstm]`` table of ``nlpsvc train``, ``--set lstm.KEY=VALUE``).

Defaults are Zaremba et al.'s (2014) small configuration (2 x 200, BPTT 20, batch 20) with an
adaptive softmax, light dropout and Adam: a model that trains on two CPU cores in minutes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

OPTIMIZERS = ("adam", "sgd", "asgd")
SOFTMAXES = ("full", "adaptive")


@dataclass(frozen=True)
class ModelConfig:
    """What rebuilds the network: saved as ``config.json`` beside ``model.safetensors``."""

    vocab_size: int
    embedding_dim: int = 200
    hidden_size: int = 200
    num_layers: int = 2
    dropout_emb: float = 0.2  # on the embeddings (input)
    dropout: float = 0.2  # between LSTM layers
    dropout_out: float = 0.2  # on the last layer's output, before the softmax
    tie_weights: bool = True  # output layer shares the embedding (a projection if sizes differ)
    # "full" softmax, or "adaptive" (Grave et al. 2017): frequent words in a head, rarer ones in
    # smaller tail clusters cut at ``cutoffs`` (word ids, most frequent first); several times
    # cheaper to score on a CPU, untied
    softmax: str = "full"
    cutoffs: tuple[int, ...] = ()
    div_value: float = 4.0  # each tail cluster's projection is this much smaller

    def __post_init__(self) -> None:
        object.__setattr__(self, "cutoffs", tuple(int(c) for c in self.cutoffs))
        if self.softmax not in SOFTMAXES:
            raise ValueError(f"softmax {self.softmax!r} is not one of {', '.join(SOFTMAXES)}")
        if self.softmax == "adaptive":
            if self.tie_weights:
                raise ValueError("tie_weights = true needs softmax = 'full' (the adaptive "
                                 "softmax is untied; or set tie_weights = false)")
            c = self.cutoffs
            if not c or list(c) != sorted(set(c)) or c[0] < 4 or c[-1] >= self.vocab_size:
                raise ValueError(f"cutoffs must increase within (3, vocab_size = "
                                 f"{self.vocab_size}), got {list(c)}")
        if self.vocab_size < 4:
            raise ValueError(f"vocab_size must be at least 4, got {self.vocab_size}")
        if not 1 <= self.num_layers <= 3:
            raise ValueError(f"num_layers must be 1, 2 or 3, got {self.num_layers}")
        if self.embedding_dim < 1 or self.hidden_size < 1:
            raise ValueError("embedding_dim and hidden_size must be positive")
        for name in ("dropout_emb", "dropout", "dropout_out"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class LstmConfig:
    """The ``[lstm]`` config table; every key is settable with ``--set lstm.KEY=VALUE``."""

    embedding_dim: int = 200
    hidden_size: int = 200
    num_layers: int = 2
    dropout_emb: float = 0.2
    dropout: float = 0.2
    dropout_out: float = 0.2
    # Adaptive softmax by default: this service trains and scores on CPUs, where it trains ~3x
    # and scores 4-7x faster than the full softmax (README); so in a fixed budget it sees
    # several times more text. softmax = "full" with tie_weights = true is the tied model.
    tie_weights: bool = False
    softmax: str = "adaptive"
    cutoffs: list[int] = field(default_factory=lambda: [2000])  # adaptive: cluster bounds
    div_value: float = 4.0
    min_count: int = 1  # rarer training words become <unk> (PTB is already unk-ified)
    max_vocab: int | None = None  # keep at most this many words (most frequent)
    bptt: int = 20  # truncated back-propagation length
    batch_size: int = 20  # parallel streams of the running text
    optimizer: str = "adam"  # adam | sgd | asgd (SGD, then averaging once validation stalls)
    lr: float = 2e-3  # adam: ~1e-3..3e-3; sgd/asgd: ~1..20
    weight_decay: float = 0.0
    lr_decay: float = 0.5  # factor applied when validation perplexity does not improve
    clip: float = 0.25  # max gradient norm
    epochs: int = 40
    patience: int = 3  # early stopping: epochs without a better validation perplexity
    # training time budget (0 = none); the best weights so far are kept. Small by default so
    # `make run` stays quick; the PTB benchmark sets 30.
    max_minutes: float = 3.0
    seed: int = 1
    threads: int = 0  # torch.set_num_threads while training (0 = torch's default)
    resume: bool = True  # continue an interrupted run from its checkpoint
    eval_batch_size: int = 64  # sentences per scoring batch
    valid_max_tokens: int = 0  # cap on validation tokens per epoch (0 = all)
    device: str = "cpu"  # torch device for training ("cuda" on a GPU); served models run on CPU
    carry_state: bool = False  # also report the running-text perplexity papers use
    mix: bool = True  # tune the interpolation weight with the corpus's n-gram model, if any

    def __post_init__(self) -> None:
        self.model_config(100)  # validates the architecture keys
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        if self.bptt < 2 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("bptt must be >= 2, batch_size and epochs >= 1")
        if self.min_count < 1:
            raise ValueError("min_count must be at least 1")
        if self.lr <= 0 or self.clip <= 0 or not 0 < self.lr_decay <= 1:
            raise ValueError("lr and clip must be positive and lr_decay in (0, 1]")
        if self.max_minutes < 0 or self.patience < 0:
            raise ValueError("max_minutes and patience must be >= 0")

    def model_config(self, vocab_size: int) -> ModelConfig:
        cutoffs = tuple(c for c in self.cutoffs if c < vocab_size - 1)  # small vocabularies
        if self.softmax == "adaptive" and not cutoffs:
            cutoffs = (max(4, vocab_size // 4),)
        return ModelConfig(
            softmax=self.softmax, cutoffs=cutoffs, div_value=self.div_value,
            vocab_size=vocab_size, embedding_dim=self.embedding_dim,
            hidden_size=self.hidden_size, num_layers=self.num_layers,
            dropout_emb=self.dropout_emb, dropout=self.dropout, dropout_out=self.dropout_out,
            tie_weights=self.tie_weights,
        )
