"""One 2-worker ``LocalCluster`` for the whole folder (start-up costs seconds), and a small
n-gram model set trained by the real CLI from a slice of the demo corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nlpsvc.cli import main as cli
from tests.foundation.conftest import demo_slice


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    """A LocalCluster of 2 single-threaded worker processes (nannies restart a killed one)."""
    import logging

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR,
                      scheduler_kwargs={"dashboard": False}) as c:
        yield c


@pytest.fixture(scope="session")
def client(cluster: Any) -> Iterator[Any]:
    from distributed import Client

    with Client(cluster, set_as_default=False) as c:
        yield c


@pytest.fixture(scope="session")
def dask_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_slice(tmp_path_factory.mktemp("dcorpus") / "dmini", lines=1200, name="dmini")


@pytest.fixture(scope="session")
def dask_models(tmp_path_factory: pytest.TempPathFactory, dask_corpus: Path) -> Path:
    out = tmp_path_factory.mktemp("dmodels")
    assert cli(["train", str(dask_corpus), "--only", "ngram", "--out", str(out), "-q"]) == 0
    return out
