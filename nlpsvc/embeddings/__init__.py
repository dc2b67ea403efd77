"""Word embeddings: word2vec (skip-gram, CBOW) and fastText with gensim.

Training (``fit``) streams a restartable corpus; ``evaluate_*`` use gensim's own evaluation;
``EmbeddingModel`` answers the service's queries; ``load_artifact`` is the registry's loader.
CLI entry points (``nlpsvc/cli.py``): ``cli_eval`` for ``nlpsvc eval --kind embeddings --pairs |
--analogies`` and ``cli_export`` for ``nlpsvc export --format word2vec``.
"""

from nlpsvc.embeddings.config import ALGORITHMS, EmbeddingsConfig
from nlpsvc.embeddings.evaluate import evaluate_analogies, evaluate_pairs, evaluate_standard
from nlpsvc.embeddings.model import (
    EmbeddingModel,
    Neighbour,
    UnknownWord,
    cli_eval,
    cli_export,
    export_word2vec,
    load_artifact,
    open_model,
    pin_threads,
    save_vectors,
)
from nlpsvc.embeddings.train import (
    EmbeddingsError,
    FitResult,
    TokenFile,
    apply_phrases,
    fit,
    learn_phrases,
)

__all__ = [
    "ALGORITHMS", "EmbeddingModel", "EmbeddingsConfig", "EmbeddingsError", "FitResult",
    "Neighbour", "TokenFile", "UnknownWord", "apply_phrases", "cli_eval", "cli_export",
    "evaluate_analogies", "evaluate_pairs", "evaluate_standard", "export_word2vec", "fit",
    "learn_phrases", "load_artifact", "open_model", "pin_threads", "save_vectors",
]
