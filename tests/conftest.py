"""Shared fixtures (flaskr style): build the app over temporary models, get a test client.

Family test folders train their own small models and call ``make_app(models_dir)`` (or pass a
ready ``Registry``); ``tests/foundation/conftest.py`` provides an n-gram model set and the
``app`` / ``client`` fixtures over it.
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
