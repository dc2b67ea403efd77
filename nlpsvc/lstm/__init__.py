"""Word-level LSTM language model (the ``lstm`` kind) and its mix with the n-gram model.

``config`` holds the settings, ``model`` the network, ``data`` the BPTT batches, ``train`` the
loop, ``lm`` the served scorer (the n-gram model's conventions, safetensors + JSON files) and
``mix`` the per-token interpolation with the corpus's n-gram model (the ``mix`` kind).
The service and ``nlpsvc score`` load a published artifact with ``load_artifact``; ``mix``
needs the set's n-gram model too (``load_mix`` from disk, ``mix_model`` from loaded models).
"""

from __future__ import annotations

from typing import Any

from nlpsvc.artifacts import CURRENT, Artifact, ArtifactError, load_current
from nlpsvc.lstm.lm import FILES, LstmLM
from nlpsvc.lstm.mix import DEFAULT_LAMBDA, MixModel
from nlpsvc.torch_threads import set_serving_threads

__all__ = ["LstmLM", "MixModel", "load_artifact", "load_mix", "mix_lambda", "mix_model"]


def load_artifact(artifact: Artifact, threads: int | None = None) -> LstmLM:
    """The LSTM LM of a verified artifact, with the serving thread policy applied
    (``$NLPSVC_TORCH_THREADS`` or 1 per worker; ``nlpsvc.torch_threads``)."""
    for name in FILES:
        artifact.file(name)  # raises ArtifactError naming a missing file
    set_serving_threads(threads)
    return LstmLM.load(artifact.path)


def mix_lambda(lstm_artifact: Artifact) -> float:
    """λ tuned on validation at training time (``mix.lambda`` in the LSTM manifest), or 0.5
    when the LSTM was trained with no n-gram model of its corpus beside it."""
    mix = lstm_artifact.manifest.get("mix") or {}
    lam = mix.get("lambda")
    return float(lam) if lam is not None else DEFAULT_LAMBDA


def mix_model(lstm: LstmLM, lstm_artifact: Artifact, ngram: Any,
              ngram_artifact: Artifact) -> MixModel:
    """The ``mix`` of two loaded models of one set; both must tokenise text the same way."""
    a, b = lstm_artifact.manifest.get("text"), ngram_artifact.manifest.get("text")
    if a != b:
        raise ValueError(f"mix: the lstm and ngram models tokenise differently ({a} vs {b}); "
                         "retrain one with the other's text settings")
    return MixModel(lstm, ngram, mix_lambda(lstm_artifact))


def load_mix(lstm_artifact: Artifact) -> MixModel:
    """The ``mix`` for offline use (``nlpsvc eval|score --kind mix``): the LSTM artifact's
    model plus the n-gram model served beside it in the same model set."""
    from nlpsvc import ngram

    ngram_dir = lstm_artifact.path.parent.parent / "ngram"
    if not (ngram_dir / CURRENT).is_file():
        raise ArtifactError(f"mix needs an ngram model in model set "
                            f"{lstm_artifact.manifest.get('corpus')!r}; none is published "
                            f"(train one: nlpsvc train CORPUS --only ngram)")
    ngram_artifact = load_current(ngram_dir)
    return mix_model(load_artifact(lstm_artifact), lstm_artifact,
                     ngram.load_artifact(ngram_artifact), ngram_artifact)
