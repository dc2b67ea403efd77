"""The Dask scoring path is generic over the scoring kinds: the LSTM and the mix, whose results
depend on how sentences are batched, come out byte-identical because partitions hold whole
``--chunk-size`` chunks (the same batches as ``--jobs 1``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nlpsvc.batch import score_file
from nlpsvc.cli import main as cli
from tests.foundation.conftest import demo_slice
from tests.scaleout.test_dask_score import write_inputs

TRAIN_SETS = ["--set", "lstm.embedding_dim=16", "--set", "lstm.hidden_size=16",
              "--set", "lstm.num_layers=1", "--set", "lstm.epochs=1", "--set", "lstm.bptt=10",
              "--set", "lstm.batch_size=8", "--set", "lstm.threads=1",
              "--set", "lstm.valid_max_tokens=800"]


@pytest.fixture(scope="module")
def lstm_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = demo_slice(tmp_path_factory.mktemp("lcorpus") / "lmini", lines=400, name="lmini")
    out = tmp_path_factory.mktemp("lmodels")
    assert cli(["train", str(corpus), "--only", "ngram,lstm", "--out", str(out), "-q",
                *TRAIN_SETS]) == 0
    return out


@pytest.mark.parametrize("kind", ["lstm", "mix"])
def test_lstm_kinds_are_byte_identical_to_jobs_1(client: Any, cluster: Any, lstm_models: Path,
                                                 tmp_path: Path, kind: str) -> None:
    client.wait_for_workers(2, timeout=60)
    inp = write_inputs(tmp_path)["jsonl"]
    one, dk = tmp_path / "one.jsonl", tmp_path / "dask.jsonl"
    score_file(lstm_models, inp, one, kind=kind, chunk_size=9, progress=False)
    score_file(lstm_models, inp, dk, kind=kind, chunk_size=9, progress=False,
               backend="dask", scheduler=cluster.scheduler_address, partition_lines=20)
    assert one.read_bytes() == dk.read_bytes()
