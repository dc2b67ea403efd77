"""Text classification: a scikit-learn TF-IDF model and a fastText-style PyTorch model.

Entry points: ``load_artifact`` (the service registry and batch scoring load a trained artifact
with it), ``batch_classify`` (``nlpsvc score --kind classifier``), ``cli_eval`` and
``evaluate_file`` (``nlpsvc eval --kind classifier --input FILE``). Training is
``pipelines.classifier.ClassifierPipeline``.

Names are imported lazily, so ``nlpsvc.classify.features`` (numpy only) loads without torch
or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TextClassifier": "nlpsvc.classify.classifier",
    "batch_classify": "nlpsvc.classify.classifier",
    "cli_eval": "nlpsvc.classify.classifier",
    "evaluate_file": "nlpsvc.classify.classifier",
    "load_artifact": "nlpsvc.classify.classifier",
    "load_dir": "nlpsvc.classify.classifier",
    "ClassifierConfig": "nlpsvc.classify.config",
    "ClassifierDataError": "nlpsvc.classify.data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nlpsvc.classify' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
