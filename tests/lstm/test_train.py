"""Training: the time budget, resume, NT-ASGD, and a corpus too small for one BPTT batch."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nlpsvc.config import ConfigError, to_dataclass
from nlpsvc.lstm.config import LstmConfig
from nlpsvc.lstm.data import BpttBatches, CorpusTooSmall, build_vocab, stream_ids
from nlpsvc.lstm.train import fit
from tests.lstm.conftest import SENTENCES, make_lm


def test_time_budget_is_respected() -> None:
    lm, batches, cfg = make_lm(SENTENCES * 40, max_minutes=0.005, epochs=10_000)  # 0.3 s
    t0 = time.perf_counter()
    result = fit(lm, batches, SENTENCES, cfg, progress=False)
    assert result.stopped == "time_budget"
    assert time.perf_counter() - t0 < 0.3 + 2.0  # one batch and one validation over budget
    assert result.history[-1]["partial"] and result.best_epoch >= 1


def test_resume_continues_after_the_last_epoch(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    lm, batches, cfg = make_lm(SENTENCES, epochs=4)
    calls = 0
    evaluate = lm.evaluate

    def killed_in_epoch_3(sentences):  # noqa: ANN001, ANN202
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return evaluate(sentences)

    monkeypatch.setattr(lm, "evaluate", killed_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        fit(lm, batches, SENTENCES, cfg, tmp_path, progress=False)
    lm2, batches2, cfg2 = make_lm(SENTENCES, epochs=4)
    again = fit(lm2, batches2, SENTENCES, cfg2, tmp_path, progress=False)
    assert again.resumed_from == 2 and [r["epoch"] for r in again.history] == [1, 2, 3, 4]
    fresh, b3, cfg3 = make_lm(SENTENCES, epochs=4)
    straight = fit(fresh, b3, SENTENCES, cfg3, progress=False)
    assert again.best_valid_ppl == pytest.approx(straight.best_valid_ppl, rel=1e-4)


@pytest.mark.parametrize("optimizer", ["sgd", "asgd"])
def test_sgd_and_averaged_sgd_train(optimizer: str) -> None:
    lm, batches, cfg = make_lm(SENTENCES, optimizer=optimizer, lr=1.0, epochs=12, patience=12)
    result = fit(lm, batches, SENTENCES, cfg, progress=False)
    assert result.best_valid_ppl < result.history[0]["valid_ppl"]
    if optimizer == "asgd" and result.averaged_from:
        assert any(r["optimizer"] == "asgd-averaged" for r in result.history)


def test_corpus_smaller_than_one_bptt_batch_is_a_clear_error() -> None:
    vocab = build_vocab(SENTENCES)
    stream = stream_ids(SENTENCES, vocab)  # 35 positions
    with pytest.raises(CorpusTooSmall, match=r"one BPTT batch .* 20 x 21 = 420"):
        BpttBatches.from_stream(stream, batch_size=20, bptt=20)
    assert len(BpttBatches.from_stream(stream, batch_size=2, bptt=8)) == 2


def test_bad_config_values_fail_by_name() -> None:
    for key, value in (("optimizer", "rmsprop"), ("num_layers", 4), ("dropout", 1.0),
                       ("bptt", 1)):
        with pytest.raises(ConfigError, match=r"\[lstm\]"):
            to_dataclass(LstmConfig, {key: value}, "lstm")
    with pytest.raises(ConfigError, match="tie_weights = true needs softmax = 'full'"):
        to_dataclass(LstmConfig, {"tie_weights": True}, "lstm")  # the default is adaptive
    with pytest.raises(ConfigError, match="cutoffs must increase"):
        to_dataclass(LstmConfig, {"softmax": "adaptive", "tie_weights": False,
                                  "cutoffs": [50, 20]}, "lstm")
    with pytest.raises(ConfigError, match="lstm.hidden"):
        to_dataclass(LstmConfig, {"hidden": 10}, "lstm")
