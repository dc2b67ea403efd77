"""End to end over TCP: a real ``dask scheduler`` and ``dask worker --nworkers 2`` started
here on localhost, driven through the ``nlpsvc`` CLI (scoring and n-gram training)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlpsvc.cli import main as cli
from tests.scaleout.test_dask_score import write_inputs

DASK = [sys.executable, "-m", "dask"]


@pytest.fixture(scope="module")
def scheduler_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A scheduler and one worker process of two workers; the scheduler's JSON file."""
    folder = tmp_path_factory.mktemp("dask")
    sfile = folder / "scheduler.json"
    procs = [subprocess.Popen([*DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sfile)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        procs.append(subprocess.Popen(
            [*DASK, "worker", "--scheduler-file", str(sfile), "--nworkers", "2", "--nthreads",
             "1", "--no-dashboard", "--host", "127.0.0.1",
             "--local-directory", str(folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        deadline = time.monotonic() + 60
        while not sfile.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        with Client(scheduler_file=str(sfile), timeout=30) as c:
            c.wait_for_workers(2, timeout=60)
        yield sfile
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_score_over_tcp_equals_jobs_1(scheduler_file: Path, dask_models: Path,
                                      tmp_path: Path) -> None:
    inp = write_inputs(tmp_path)["csv"]
    one, dk = tmp_path / "one.jsonl", tmp_path / "dask.jsonl"
    base = ["score", "--models", str(dask_models), "--input", str(inp), "-q",
            "--chunk-size", "8"]
    assert cli([*base, "--output", str(one)]) == 0
    assert cli([*base, "--output", str(dk), "--backend", "dask", "--scheduler",
                str(scheduler_file), "--partition-lines", "16"]) == 0
    assert one.read_bytes() == dk.read_bytes()


def test_train_over_tcp_publishes_the_local_model(scheduler_file: Path, dask_corpus: Path,
                                                  tmp_path: Path) -> None:
    address = json.loads(scheduler_file.read_text())["address"]
    sets = ["--set", "ngram.order=4", "--set", "ngram.discount_fallback=[0.5,1.0,1.5]"]
    base = ["train", str(dask_corpus), "--only", "ngram", "-q", *sets]
    assert cli([*base, "--out", str(tmp_path / "local")]) == 0
    assert cli([*base, "--out", str(tmp_path / "dask"), "--backend", "dask", "--scheduler",
                address]) == 0
    for name in ("local", "dask"):
        assert cli(["export", "--models", str(tmp_path / name / "dmini"), "--kind", "ngram",
                    "--format", "arpa", "--output", str(tmp_path / f"{name}.arpa")]) == 0
    assert (tmp_path / "local.arpa").read_bytes() == (tmp_path / "dask.arpa").read_bytes()
    assert cli([*base, "--out", str(tmp_path / "x"), "--backend", "dask", "--scheduler",
                address, "--set", "ngram.smoothing=kn"]) == 1  # not the bounded build
