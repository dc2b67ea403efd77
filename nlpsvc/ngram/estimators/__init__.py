"""Registry of smoothing methods (``ngram.smoothing``), imported lazily by name.

A module is only imported when its method is asked for, so importing nlpsvc.ngram stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from nlpsvc.ngram.estimators.base import Estimator

ESTIMATORS: dict[str, str] = {
    "mle": "nlpsvc.ngram.estimators.mle:MLE",
    "addk": "nlpsvc.ngram.estimators.addk:AddK",
    "witten_bell": "nlpsvc.ngram.estimators.witten_bell:WittenBell",
    "katz": "nlpsvc.ngram.estimators.katz:Katz",
    "absolute": "nlpsvc.ngram.estimators.kneser_ney:AbsoluteDiscounting",
    "kn": "nlpsvc.ngram.estimators.kneser_ney:KneserNey",
    "mkn": "nlpsvc.ngram.estimators.kneser_ney:ModifiedKneserNey",
    "stupid_backoff": "nlpsvc.ngram.estimators.stupid_backoff:StupidBackoff",
}


def estimator_class(name: str) -> type[Estimator]:
    """The class registered under ``name``; ValueError naming the unknown smoothing."""
    if name not in ESTIMATORS:
        raise ValueError(
            f"unknown smoothing {name!r}; expected one of {', '.join(ESTIMATORS)}"
        )
    module, _, cls = ESTIMATORS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def get_estimator(name: str, **params: Any) -> Estimator:
    """An estimator instance holding ``params`` (validated when it estimates)."""
    return estimator_class(name)(**params)


__all__ = ["ESTIMATORS", "Estimator", "estimator_class", "get_estimator"]
