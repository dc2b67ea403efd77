"""The hand-written SGD steps equal autograd's gradient steps on the same module."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nlpsvc.classify.fasttext import example_step, sgd_step
from nlpsvc.classify.model import FastTextModule, FastTextModuleConfig


def random_module(seed: int) -> tuple[FastTextModule, FastTextModule]:
    """A small module with random rows and output layer (a non-trivial start), and a copy."""
    torch.manual_seed(seed)
    module = FastTextModule(FastTextModuleConfig(num_rows=30, dim=6, num_classes=4))
    with torch.no_grad():
        module.embedding.weight.normal_()
        module.output.weight.normal_()
        module.output.bias.normal_()
    return module, copy.deepcopy(module)


@pytest.mark.parametrize("loss", ["softmax", "ova"])
def test_sgd_step_matches_autograd(loss: str) -> None:
    module, ref = random_module(0)
    # three bags, with a repeated id inside one bag and across bags, and an empty bag
    ids = torch.tensor([1, 2, 2, 5, 1, 7, 9])
    offsets = torch.tensor([0, 3, 3])
    lengths = torch.tensor([3, 0, 4])
    bag_of = torch.repeat_interleave(torch.arange(3), lengths)
    inv_len = 1.0 / lengths.clamp(min=1).float()
    y = torch.tensor([2, 0, 3]) if loss == "softmax" else torch.tensor(
        [[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 1]], dtype=torch.float32)
    lr, wd = 0.3, 0.01

    value = sgd_step(module, ids, offsets, bag_of, inv_len, y, lr=lr, weight_decay=wd, loss=loss)

    logits = ref(ids, offsets)
    if loss == "softmax":
        expected = F.cross_entropy(logits, y, reduction="sum")
    else:
        expected = F.binary_cross_entropy_with_logits(logits, y, reduction="sum")
    expected.backward()
    with torch.no_grad():
        ref.embedding.weight -= lr * ref.embedding.weight.grad.to_dense()
        ref.output.weight -= lr * (ref.output.weight.grad + wd * ref.output.weight)
        ref.output.bias -= lr * ref.output.bias.grad
    assert torch.allclose(value, expected.detach(), atol=1e-5)
    for a, b in zip(module.state_dict().values(), ref.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("loss", ["softmax", "ova"])
def test_example_step_matches_per_example_autograd(loss: str) -> None:
    """example_step = fastText's per-example SGD on the output layer (one autograd step per
    text, in order, each with its own lr), with the input rows read at the start of the batch
    and their per-example updates summed (hogwild)."""
    module, ref = random_module(1)
    ids = torch.tensor([1, 2, 2, 5, 1, 7, 9, 3, 1])
    lengths = torch.tensor([3, 0, 4, 2])
    offsets = torch.cumsum(lengths, 0) - lengths
    bag_of = torch.repeat_interleave(torch.arange(4), lengths)
    inv_len = 1.0 / lengths.clamp(min=1).float()
    y = torch.tensor([2, 0, 3, 3]) if loss == "softmax" else torch.tensor(
        [[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 1], [0, 0, 1, 0]], dtype=torch.float32)
    lr = torch.tensor([0.9, 0.8, 0.7, 0.6])

    value = example_step(module, ids, offsets, bag_of, inv_len, y.numpy(), lr=lr, loss=loss)

    with torch.no_grad():
        hidden = ref.embedding(ids, offsets)  # rows as they stood before the batch
    row_update = torch.zeros_like(ref.embedding.weight)
    expected = torch.zeros(())
    for i in range(4):
        h = hidden[i : i + 1].clone().requires_grad_(True)
        logits = ref.output(h)
        if loss == "softmax":
            value_i = F.cross_entropy(logits, y[i : i + 1], reduction="sum")
        else:
            value_i = F.binary_cross_entropy_with_logits(logits, y[i : i + 1], reduction="sum")
        ref.output.zero_grad()
        value_i.backward()
        expected += value_i.detach()
        with torch.no_grad():
            for p in ref.output.parameters():
                p -= lr[i] * p.grad
            bag = ids[offsets[i] : offsets[i] + lengths[i]]
            row_update.index_add_(0, bag, (-lr[i] * h.grad / max(len(bag), 1)).expand(
                len(bag), -1))
    with torch.no_grad():
        ref.embedding.weight += row_update
    assert value == pytest.approx(float(expected), abs=1e-4)
    for a, b in zip(module.state_dict().values(), ref.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("loss", ["softmax", "ova"])
def test_compiled_kernel_equals_the_reference_step_text_by_text(loss: str) -> None:
    """The compiled kernel (sgd_kernel) is example_step run on one text at a time, in order:
    each text's rows and the output layer stepped before the next text is read (fastText)."""
    from nlpsvc.classify import sgd_kernel

    assert sgd_kernel.AVAILABLE, "numba is a dependency (pyproject): the kernel must compile"
    module, ref = random_module(2)
    # repeated ids inside a text and across texts (so later texts see earlier row updates),
    # an empty text, and an order that revisits a text
    ids = torch.tensor([1, 2, 2, 5, 1, 7, 9, 3, 1, 2, 8])
    lengths = torch.tensor([3, 0, 4, 2, 2])
    offsets = torch.cumsum(lengths, 0) - lengths
    y = torch.tensor([2, 0, 3, 3, 1]) if loss == "softmax" else torch.tensor(
        [[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 1], [0, 0, 1, 0], [1, 1, 1, 1]],
        dtype=torch.float32)
    order = np.array([3, 0, 1, 4, 2, 0])
    lr = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], dtype=np.float32)
    wd = 0.05
    ova = loss == "ova"
    yn = y.numpy()

    value = sgd_kernel.train_epoch(
        module.embedding.weight.detach().numpy(), module.output.weight.detach().numpy(),
        module.output.bias.detach().numpy(), ids.numpy(), offsets.numpy(), lengths.numpy(),
        order, np.zeros(5, np.int64) if ova else yn, yn if ova else np.zeros((1, 4), np.float32),
        lr, weight_decay=wd, ova=ova)

    expected = 0.0
    for k, i in enumerate(order):
        bag = ids[offsets[i] : offsets[i] + lengths[i]]
        expected += example_step(
            ref, bag, torch.tensor([0]), torch.zeros(len(bag), dtype=torch.int64),
            1.0 / lengths[i : i + 1].clamp(min=1).float(), yn[i : i + 1],
            lr=torch.tensor([lr[k]]), weight_decay=wd, loss=loss)
    assert value == pytest.approx(expected, rel=1e-5)
    for a, b in zip(module.state_dict().values(), ref.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_compiled_kernel_dropout_is_seeded() -> None:
    """With dropout, the same seed gives the same step; dropout 0 ignores the seed."""
    from nlpsvc.classify import sgd_kernel

    assert sgd_kernel.AVAILABLE, "numba is a dependency (pyproject): the kernel must compile"
    rng = np.random.default_rng(0)
    base = [rng.normal(size=(20, 8)).astype(np.float32), rng.normal(size=(3, 8)).astype(
        np.float32), np.zeros(3, np.float32)]
    ids, offsets, lengths = np.array([1, 4, 6, 2, 9]), np.array([0, 3]), np.array([3, 2])
    args = (ids, offsets, lengths, np.array([0, 1, 0]), np.array([2, 0]),
            np.zeros((1, 3), np.float32), np.full(3, 0.5, np.float32))

    def run(dropout: float, seed: int) -> list[np.ndarray]:
        params = [p.copy() for p in base]
        sgd_kernel.train_epoch(*params, *args, dropout=dropout, seed=seed)
        return params

    a, b, c = run(0.5, 7), run(0.5, 7), run(0.5, 8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert all(np.array_equal(x, y) for x, y in zip(run(0.0, 7), run(0.0, 8), strict=True))
