"""Shared fixtures (flaskr style): build the app over temporary models, get a test client.

Family test folders train their own small models and call ``make_app(models_dir)`` (or pass a
ready ``Registry``); ``tests/foundation/conftest.py`` provides an n-gram model set and the
``app`` / ``client`` fixtures over it.

Real data lives beside the repo in ``../shared/data``. Tests that read it call
``shared_data("trec", ...)`` or carry ``@pytest.mark.shared_data("ptb")``: without the folder
(a bare checkout) they skip and say so; with it, a missing data set is a failure, not a skip, so
the data tests cannot silently stop running where the data is meant to be.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from nlpsvc.service import create_app

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """``../shared/data/<parts>``; skip the calling test when the data folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared data folder {SHARED_DATA} (not present in this checkout)")
    if not path.exists():
        pytest.fail(f"{path} is missing although {SHARED_DATA} is present", pytrace=False)
    return path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "shared_data(*parts): reads ../shared/data/<parts>; skipped without the folder")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("shared_data"):
        shared_data(*mark.args)


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    """``make_app(models_dir=None, registry=None, **config)`` -> a TESTING app."""

    def build(models_dir: str | Path | None = None, registry: Any = None, **config: Any) -> Flask:
        settings: dict[str, Any] = {"TESTING": True, **config}
        if registry is not None:
            settings["REGISTRY"] = registry
        if models_dir is not None:
            settings["MODELS_DIR"] = str(models_dir)
        return create_app(settings)

    return build
