"""Fixtures for the LSTM LM tests: a tiny repetitive corpus, a model overfit on it, and a model
set (ngram + lstm) trained by the real CLI on a slice of the demo books."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nlpsvc.cli import main as cli
from nlpsvc.lstm.config import LstmConfig
from nlpsvc.lstm.data import BpttBatches, build_vocab, stream_ids
from nlpsvc.lstm.lm import LstmLM
from nlpsvc.lstm.model import LSTMNet
from nlpsvc.lstm.train import FitResult, fit
from tests.foundation.conftest import demo_slice

SENTENCES = [
    "the cat sat on the mat".split(),
    "the dog ran in the park".split(),
    "a bird sang".split(),
    "the cat ran".split(),
    "<unk> saw the dog".split(),
]

# seconds, not minutes: one layer of 32, short BPTT, one training thread
TINY = dict(embedding_dim=32, hidden_size=32, num_layers=1, dropout_emb=0.0, dropout=0.0,
            dropout_out=0.0, bptt=8, batch_size=4, lr=0.02, clip=1.0, epochs=40, patience=40,
            max_minutes=1.0, threads=1, seed=3, softmax="full", tie_weights=True)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def make_lm(sentences: list[list[str]], **kw: object) -> tuple[LstmLM, BpttBatches, LstmConfig]:
    cfg = LstmConfig(**{**TINY, **kw})  # type: ignore[arg-type]
    vocab = build_vocab(sentences, cfg.min_count)
    batches = BpttBatches.from_stream(stream_ids(sentences * 8, vocab), cfg.batch_size, cfg.bptt)
    torch.manual_seed(cfg.seed)
    return LstmLM(LSTMNet(cfg.model_config(len(vocab))), vocab), batches, cfg


@pytest.fixture(scope="session")
def overfit() -> tuple[LstmLM, FitResult]:
    """An LSTM trained to memorise ``SENTENCES`` (train = validation)."""
    torch.set_num_threads(1)
    lm, batches, cfg = make_lm(SENTENCES)
    return lm, fit(lm, batches, SENTENCES, cfg, progress=False)


TRAIN_SETS = ["--set", "lstm.embedding_dim=24", "--set", "lstm.hidden_size=24",
              "--set", "lstm.num_layers=1", "--set", "lstm.epochs=1", "--set", "lstm.bptt=10",
              "--set", "lstm.batch_size=8", "--set", "lstm.threads=1",
              "--set", "lstm.valid_max_tokens=1500", "--set", "lstm.carry_state=true"]


@pytest.fixture(scope="session")
def lstm_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``models/`` holding ``mini/ngram`` and ``mini/lstm`` (trained by the real CLI)."""
    corpus = demo_slice(tmp_path_factory.mktemp("corpus") / "mini", lines=600)
    out = tmp_path_factory.mktemp("models")
    assert cli(["train", str(corpus), "--only", "ngram,lstm", "--out", str(out), "-q",
                *TRAIN_SETS]) == 0
    return out
