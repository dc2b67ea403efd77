"""The model kinds, declared once.

Each model family is one ``Family`` entry: its kind (the artifact folder name, the config
section, the ``--only`` / ``--kind`` value), the package that loads its artifacts, its training
pipeline, its config dataclass, the service blueprint that serves it, and how it is scored
offline. Every other list of kinds derives from ``FAMILIES``: the artifact store's ``KINDS``,
the pipelines and their run order, the config sections ``nlpsvc train`` accepts, the models the
service loads, its blueprints, ``/score``'s kinds and the ``nlpsvc score|eval|export`` choices.
Adding a family (say a transformer LM) is one entry here plus its package and pipeline.

``DERIVED`` holds the scoring kinds built from other families' models (``mix``: a set's LSTM and
n-gram models interpolated), which have no artifact or pipeline of their own.

Targets are dotted strings (``"module:attribute"``) imported on first use, so importing this
module (``nlpsvc.cli`` does) loads no model code, torch or gensim; the entries are plain
classes, which cost next to nothing to define (a dataclass or named tuple adds a millisecond
to every ``nlpsvc`` command's start).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class Family:
    """One model family.

    ``package`` exposes ``load_artifact(artifact) -> model`` and, optionally, ``cli_eval``,
    ``cli_export`` (``nlpsvc eval`` / ``export``) and ``batch_classify`` (``nlpsvc score``).
    """

    __slots__ = ("kind", "package", "pipeline", "config", "blueprint", "lm", "batch")

    def __init__(
        self,
        kind: str,
        package: str,
        pipeline: str,  # "module:Class", a pipelines.base.Pipeline
        config: str,  # "module:Class", the dataclass of the [kind] config table
        blueprint: str,  # the service module exposing ``bp`` (and ``OPENAPI_PATHS``)
        *,
        lm: bool = False,  # a language model: /score, nlpsvc score and eval via nlpsvc.scoring
        batch: bool = False,  # nlpsvc score --kind KIND through the package's batch_classify
    ) -> None:
        self.kind, self.package, self.pipeline, self.config = kind, package, pipeline, config
        self.blueprint, self.lm, self.batch = blueprint, lm, batch

    def __repr__(self) -> str:
        return f"Family({self.kind!r})"


class Derived:
    """A language-model scoring kind made of other families' models."""

    __slots__ = ("kind", "artifact", "loader", "needs")

    def __init__(
        self,
        kind: str,
        *,
        artifact: str,  # the family whose served artifact it resolves to (holds its settings)
        loader: str,  # function of that family's package: loader(artifact) -> model
        needs: tuple[str, ...],  # the families a model set must have loaded to serve it
    ) -> None:
        self.kind, self.artifact, self.loader, self.needs = kind, artifact, loader, needs

    def __repr__(self) -> str:
        return f"Derived({self.kind!r})"


# In run order: ngram before lstm (which tunes the mix with the n-gram model), embeddings before
# the families that may reuse its vectors.
FAMILIES: tuple[Family, ...] = (
    Family("ngram", "nlpsvc.ngram", "pipelines.ngram:NgramPipeline",
           "nlpsvc.ngram.config:NgramConfig", "nlpsvc.service.score", lm=True),
    Family("lstm", "nlpsvc.lstm", "pipelines.lstm:LstmPipeline",
           "nlpsvc.lstm.config:LstmConfig", "nlpsvc.service.score", lm=True),
    Family("embeddings", "nlpsvc.embeddings", "pipelines.embeddings:EmbeddingsPipeline",
           "nlpsvc.embeddings.config:EmbeddingsConfig", "nlpsvc.service.similar"),
    Family("classifier", "nlpsvc.classify", "pipelines.classifier:ClassifierPipeline",
           "nlpsvc.classify.config:ClassifierConfig", "nlpsvc.service.classify", batch=True),
    Family("chatbot", "nlpsvc.chatbot", "pipelines.chatbot:ChatbotPipeline",
           "nlpsvc.chatbot.config:ChatbotConfig", "nlpsvc.service.reply"),
)

# mix: λ is tuned at training and stored in the lstm manifest; load_mix finds the n-gram model
# of the same set beside it.
DERIVED: tuple[Derived, ...] = (
    Derived("mix", artifact="lstm", loader="load_mix", needs=("lstm", "ngram")),
)

_BY_KIND: dict[str, Family] = {f.kind: f for f in FAMILIES}
_DERIVED: dict[str, Derived] = {d.kind: d for d in DERIVED}

KINDS: tuple[str, ...] = tuple(_BY_KIND)  # the artifact kinds, in run order
LM_FAMILIES: tuple[str, ...] = tuple(f.kind for f in FAMILIES if f.lm)
LM_KINDS: tuple[str, ...] = (*LM_FAMILIES, *_DERIVED)  # /score, nlpsvc score and eval as LMs
BATCH_KINDS: tuple[str, ...] = (*LM_KINDS, *(f.kind for f in FAMILIES if f.batch))
EVAL_KINDS: tuple[str, ...] = (*KINDS, *_DERIVED)


def family(kind: str) -> Family:
    """The family of ``kind``; ValueError naming the known ones."""
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; expected one of "
                         f"{', '.join(KINDS)}") from None


def derived(kind: str) -> Derived | None:
    return _DERIVED.get(kind)


def artifact_kind(kind: str) -> str:
    """The family whose artifact a scoring kind is served from (``mix`` -> ``lstm``)."""
    d = _DERIVED.get(kind)
    return d.artifact if d is not None else kind


def packages() -> dict[str, str]:
    """kind -> package exposing ``load_artifact``, in run order."""
    return {f.kind: f.package for f in FAMILIES}


def pipelines() -> dict[str, str]:
    """kind -> ``"module:Class"`` of its training pipeline, in run order."""
    return {f.kind: f.pipeline for f in FAMILIES}


def blueprints() -> tuple[str, ...]:
    """The families' service modules, each once, in the order of their first family."""
    return tuple(dict.fromkeys(f.blueprint for f in FAMILIES))


def package(kind: str) -> ModuleType:
    """The package of ``kind``'s family, imported now."""
    return importlib.import_module(family(kind).package)


def load(target: str) -> Any:
    """The object a ``"module:attribute"`` target names (the module imported now)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def config_class(kind: str) -> type:
    """The dataclass of the ``[kind]`` config table."""
    return load(family(kind).config)


def load_model(kind: str, artifact: Any) -> Any:
    """The model of a family or derived kind from its (verified) artifact."""
    d = _DERIVED.get(kind)
    loader = getattr(package(artifact_kind(kind)), d.loader if d is not None else "load_artifact")
    return loader(artifact)
