"""The hand-written SGD step equals autograd's gradient step on the same module."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from nlpsvc.classify.fasttext import sgd_step
from nlpsvc.classify.model import FastTextModule, FastTextModuleConfig


@pytest.mark.parametrize("loss", ["softmax", "ova"])
def test_sgd_step_matches_autograd(loss: str) -> None:
    torch.manual_seed(0)
    module = FastTextModule(FastTextModuleConfig(num_rows=30, dim=6, num_classes=4))
    with torch.no_grad():  # non-trivial start: random rows and output layer
        module.embedding.weight.normal_()
        module.output.weight.normal_()
        module.output.bias.normal_()
    ref = copy.deepcopy(module)
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
