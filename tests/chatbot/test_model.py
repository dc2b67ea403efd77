"""The seq2seq modules: gradients, learning, attention variants."""

from __future__ import annotations

import pytest
import torch

from nlpsvc.chatbot.data import batches, collate, encode_pairs
from nlpsvc.chatbot.evaluate import masked_nll
from nlpsvc.chatbot.model import (
    ATTENTIONS,
    DecoderState,
    Memory,
    Seq2Seq,
    make_attention,
)
from nlpsvc.chatbot.vocab import Vocab

from .conftest import tiny_config


@pytest.mark.parametrize("method", ATTENTIONS)
def test_attention_gradcheck(method: str) -> None:
    torch.manual_seed(0)
    att = make_attention(method, 4).double()
    query = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True, True], [True, True, False]])

    def f(q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return att(q, k, mask)

    assert torch.autograd.gradcheck(f, (query, keys))
    context, weights = att(query, keys, mask)
    assert torch.allclose(weights.sum(1), torch.ones(2, dtype=torch.float64))
    assert float(weights[1, 2].detach()) == 0.0  # padding gets no attention


@pytest.mark.parametrize("method", ["general", "bahdanau"])
def test_decoder_step_gradcheck(method: str) -> None:
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(7, embedding_dim=3, hidden_size=4, num_layers=2,
                                attention=method)).double()
    model.eval()
    y = torch.tensor([1, 4])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    keys = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 2, 4, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 2, 4, dtype=torch.float64, requires_grad=True)
    feed = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)

    def step(keys: torch.Tensor, h: torch.Tensor, c: torch.Tensor, feed: torch.Tensor):  # noqa: ANN202
        memory = Memory(keys, mask, model.decoder.attention.prepare(keys))
        log_probs, state, weights = model.decoder.step(y, DecoderState(h, c, feed), memory)
        return log_probs, state.h, state.c, state.feed, weights

    assert torch.autograd.gradcheck(step, (keys, h, c, feed))


def test_unknown_attention_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown attention"):
        make_attention("luong", 8)
    with pytest.raises(ValueError, match="unknown attention"):
        tiny_config(10, attention="cosine")


def _train_steps(model: Seq2Seq, data: list, steps: int, lr: float, batch: int) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    losses: list[float] = []
    while len(losses) < steps:
        for b in batches(data, batch, generator=gen):
            loss, n = masked_nll(model(b.src, b.src_len, b.tgt_in), b.tgt_out)
            opt.zero_grad()
            (loss / n).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(float(loss.detach()) / n)
            if len(losses) == steps:
                break
    return losses


def test_loss_falls_on_real_dialogues(real_pairs: list) -> None:
    torch.manual_seed(0)
    vocab = Vocab.build((s for p in real_pairs for s in p), min_count=2)
    data = encode_pairs(real_pairs, vocab)
    model = Seq2Seq(tiny_config(len(vocab), hidden_size=32, embedding_dim=32))
    held = collate(data[:40])

    def held_loss() -> float:
        with torch.no_grad():
            loss, n = masked_nll(model(held.src, held.src_len, held.tgt_in), held.tgt_out)
        return float(loss) / n

    before = held_loss()
    losses = _train_steps(model, data, 25, 1e-2, 32)
    assert sum(losses[-5:]) / 5 < losses[0] - 1.0
    assert held_loss() < before - 1.0


@pytest.mark.parametrize(
    "method", ["general", pytest.param("bahdanau", marks=pytest.mark.slow)]
)
def test_overfits_twenty_pairs(real_pairs: list, method: str) -> None:
    """The standard sanity check: a model that cannot memorise 20 pairs has a bug."""
    torch.manual_seed(0)
    pairs = real_pairs[:20]
    vocab = Vocab.build((s for p in pairs for s in p), min_count=1)
    data = encode_pairs(pairs, vocab)
    model = Seq2Seq(tiny_config(len(vocab), hidden_size=48, embedding_dim=32, attention=method))
    losses = _train_steps(model, data, 80, 3e-2, 20)
    assert losses[-1] < 0.1, losses[-10:]
