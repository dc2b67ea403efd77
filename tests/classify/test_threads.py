"""Served PyTorch models run with one shared torch thread policy ($NLPSVC_TORCH_THREADS or 1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import nlpsvc.chatbot
from nlpsvc import torch_threads
from nlpsvc.artifacts import ArtifactError, load_current
from nlpsvc.classify import load_artifact


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_policy_env_default_and_explicit(monkeypatch, restore_threads) -> None:
    monkeypatch.delenv(torch_threads.THREADS_ENV, raising=False)
    assert torch_threads.serving_threads() == 1
    monkeypatch.setenv(torch_threads.THREADS_ENV, "2")
    assert torch_threads.serving_threads() == 2
    assert torch_threads.serving_threads(3) == 3  # the caller's count wins
    torch.set_num_threads(1)
    assert torch_threads.set_serving_threads() == 2 == torch.get_num_threads()
    assert torch_threads.set_serving_threads(0) == 2  # 0: left as it is
    monkeypatch.setenv(torch_threads.THREADS_ENV, "many")
    with pytest.raises(ArtifactError, match="NLPSVC_TORCH_THREADS='many' is not an integer"):
        torch_threads.set_serving_threads()


def test_classifier_load_sets_serving_threads(trec_models: Path, monkeypatch,
                                              restore_threads) -> None:
    art = load_current(trec_models / "classifier")
    monkeypatch.delenv(torch_threads.THREADS_ENV, raising=False)
    torch.set_num_threads(2)  # torch's default on this machine: one per core
    load_artifact(art)
    assert torch.get_num_threads() == 1
    monkeypatch.setenv(torch_threads.THREADS_ENV, "2")
    load_artifact(art)
    assert torch.get_num_threads() == 2


def test_chatbot_uses_the_same_policy() -> None:
    assert nlpsvc.chatbot.set_serving_threads is torch_threads.set_serving_threads
