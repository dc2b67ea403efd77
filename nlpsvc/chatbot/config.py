"""The chatbot's settings: the ``[chatbot]`` config table (``--set chatbot.KEY=VALUE``).

Each key is checked when the table is built (``__post_init__`` builds the model, training,
length and decoding settings, which validate themselves), so a bad value fails ``nlpsvc train``
before any training starts (``nlpsvc.config.family_config``).
"""

from __future__ import annotations

from dataclasses import dataclass

from nlpsvc.chatbot.bot import DecodeDefaults
from nlpsvc.chatbot.data import LengthLimits
from nlpsvc.chatbot.model import Seq2SeqConfig
from nlpsvc.chatbot.train import TrainConfig


@dataclass
class ChatbotConfig:
    """The ``[chatbot]`` config table (SPEC §7 keys first)."""

    epochs: int = 20
    hidden_size: int = 256
    attention: str = "general"  # dot | general | concat | bahdanau
    max_minutes: float = 2.0  # training time budget (0 = none); the best epoch so far is kept
    embedding_dim: int = 256
    num_layers: int = 2
    input_feeding: bool = True
    dropout: float = 0.3
    tie_embeddings: bool = True
    # word vectors to initialise the embedding: word2vec text/binary, an nlpsvc embeddings
    # artifact folder or a gensim .kv (nlpsvc.embeddings.pretrained); "": random
    pretrained_embeddings: str = ""
    min_count: int = 2  # rarer words become <unk>
    max_vocab: int = 30000
    max_src_len: int = 40
    max_tgt_len: int = 30
    length_policy: str = "truncate"  # or "drop" pairs over the limits
    context_turns: int = 0  # earlier turns joined to the prompt with <sep>
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    lr_schedule: str = "plateau"  # plateau | exponential | none
    lr_gamma: float = 0.5
    clip: float = 5.0
    teacher_forcing: float = 1.0
    teacher_forcing_end: float = 1.0
    teacher_forcing_epochs: int = 10
    label_smoothing: float = 0.0
    word_dropout: float = 0.0  # alpha: a word seen c times becomes <unk> w.p. alpha / (alpha + c)
    patience: int = 3
    seed: int = 1
    # torch.set_num_threads for training (0 = torch's default). 1 by default: this small model
    # gains little from a second thread, and threads that oversubscribe busy cores crawl.
    threads: int = 1
    resume: bool = True
    decode_min_len: int = 1
    decode_no_repeat_ngram: int = 3
    decode_length_penalty: float = 1.0
    # MMI-antiLM (nlpsvc.chatbot.decode): weight lambda over the first gamma reply words; off by
    # default, since lambda and gamma are chosen per model on validation data (bench.chatbot)
    decode_anti_lm: float = 0.0
    decode_anti_lm_steps: int = 0
    decode_no_repeat_word: bool = True  # never the same word twice in a row
    # answer an unsure generated reply with the training reply of the most similar prompt;
    # the threshold is tuned on the validation pairs (no fallback when it does not help there)
    retrieval_fallback: bool = True
    dedup_pairs: bool = True  # identical (message, reply) train / valid pairs kept once
    eval_max_pairs: int = 2000  # test pairs replied to for BLEU / distinct-n
    min_words: int = 10  # fewer vocabulary words than this: the corpus is too small

    def __post_init__(self) -> None:
        # fail fast on bad values: build (and discard) the pieces that validate themselves
        self.model_config(10)
        self.train_config()
        self.limits()
        self.decode_defaults()
        if self.context_turns < 0 or self.min_count < 1:
            raise ValueError("context_turns must be >= 0 and min_count >= 1")

    def decode_defaults(self) -> DecodeDefaults:
        return DecodeDefaults(self.decode_min_len, self.decode_no_repeat_ngram,
                              self.decode_length_penalty, self.decode_anti_lm,
                              self.decode_anti_lm_steps, self.decode_no_repeat_word)

    def model_config(self, vocab_size: int) -> Seq2SeqConfig:
        return Seq2SeqConfig(
            vocab_size=vocab_size, embedding_dim=self.embedding_dim, hidden_size=self.hidden_size,
            num_layers=self.num_layers, attention=self.attention,
            input_feeding=self.input_feeding, dropout=self.dropout,
            tie_embeddings=self.tie_embeddings,
        )

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
            weight_decay=self.weight_decay, lr_schedule=self.lr_schedule, lr_gamma=self.lr_gamma,
            clip=self.clip, teacher_forcing=self.teacher_forcing,
            teacher_forcing_end=self.teacher_forcing_end,
            teacher_forcing_epochs=self.teacher_forcing_epochs,
            label_smoothing=self.label_smoothing, word_dropout=self.word_dropout,
            patience=self.patience, seed=self.seed,
            threads=self.threads, max_minutes=self.max_minutes,
        )

    def limits(self) -> LengthLimits:
        return LengthLimits(self.max_src_len, self.max_tgt_len, self.length_policy)
