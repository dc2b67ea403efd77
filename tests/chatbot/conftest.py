"""Fixtures for the chatbot tests: a slice of real dialogues and tiny trained models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nlpsvc.chatbot.bot import Chatbot, DecodeDefaults
from nlpsvc.chatbot.data import LengthLimits, encode_pairs, make_pairs, parse_dialog_line
from nlpsvc.chatbot.model import Seq2Seq, Seq2SeqConfig
from nlpsvc.chatbot.train import TrainConfig, fit
from nlpsvc.chatbot.vocab import Vocab
from nlpsvc.text import TextConfig, Tokenizer
from tests.conftest import shared_data


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def read_slice(n: int, offset: int = 0) -> list[list[str]]:
    """``n`` real DailyDialog dialogues (validation file), or skip if the data is absent."""
    with open(shared_data("dailydialog", "dialogues_validation.txt"), encoding="utf-8") as f:
        lines = [line for _, line in zip(range(offset + n), f, strict=False)][offset:]
    return [parse_dialog_line("dailydialog", line) or [] for line in lines]


@pytest.fixture(scope="session")
def tokenizer() -> Tokenizer:
    return Tokenizer(TextConfig())


@pytest.fixture(scope="session")
def real_pairs() -> list[tuple[list[str], list[str]]]:
    """About 300 short pairs from 60 real dialogues."""
    return make_pairs(read_slice(60), Tokenizer(TextConfig()), LengthLimits(12, 12, "drop"))


def tiny_config(vocab_size: int, **kw: object) -> Seq2SeqConfig:
    base = dict(embedding_dim=16, hidden_size=16, num_layers=1, dropout=0.0,
                attention="general", tie_embeddings=True)
    return Seq2SeqConfig(vocab_size=vocab_size, **{**base, **kw})


@pytest.fixture(scope="session")
def tiny_bot(tmp_path_factory: pytest.TempPathFactory, real_pairs: list) -> Chatbot:
    """A tiny chatbot trained for two short epochs on real pairs (answers, not well)."""
    torch.set_num_threads(1)
    vocab = Vocab.build((s for p in real_pairs for s in p), min_count=2)
    model = Seq2Seq(tiny_config(len(vocab), hidden_size=24, num_layers=2, dropout=0.1))
    data = encode_pairs(real_pairs, vocab)
    fit(model, data[20:], data[:20], TrainConfig(epochs=2, batch_size=32, lr=5e-3, seed=3),
        tmp_path_factory.mktemp("tiny_bot"), progress=False)
    return Chatbot(model, vocab, TextConfig(), max_src_len=12, max_tgt_len=10,
                   defaults=DecodeDefaults(no_repeat_ngram=0))


@pytest.fixture
def bot_dir(tmp_path: Path, tiny_bot: Chatbot) -> Path:
    tiny_bot.save(tmp_path)
    return tmp_path
