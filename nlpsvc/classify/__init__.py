"""Text classification: a scikit-learn TF-IDF model and a fastText-style PyTorch model.

The service loads a trained artifact with ``load_artifact``; the CLI evaluates a labelled file
with ``evaluate_file`` and batch-scores with
``batch_classify``; ``cli_eval`` is the ``nlpsvc eval`` hook. Training is
``pipelines.classifier.ClassifierPipeline``.
"""

from nlpsvc.classify.classifier import (
    TextClassifier,
    batch_classify,
    cli_eval,
    evaluate_file,
    load_artifact,
    load_dir,
)
from nlpsvc.classify.config import ClassifierConfig
from nlpsvc.classify.data import ClassifierDataError

__all__ = [
    "ClassifierConfig",
    "ClassifierDataError",
    "TextClassifier",
    "batch_classify",
    "cli_eval",
    "evaluate_file",
    "load_artifact",
    "load_dir",
]
