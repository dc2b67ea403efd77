"""Loaded models, once per process at start-up (never per request).

Each model family exposes ``load_artifact(artifact) -> model`` in its own package; the registry
imports a family only when a model of that kind is present, so a service with no chatbot never
imports torch.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from nlpsvc.artifacts import Artifact, ArtifactError, load_current, model_sets
from nlpsvc.service.errors import ApiError
from nlpsvc.text import TextConfig, Tokenizer

log = logging.getLogger(__name__)

# kind -> package exposing load_artifact(Artifact)
FAMILIES: dict[str, str] = {
    "ngram": "nlpsvc.ngram",
    "lstm": "nlpsvc.lstm",
    "embeddings": "nlpsvc.embeddings",
    "classifier": "nlpsvc.classify",
    "chatbot": "nlpsvc.chatbot",
}


@dataclass
class Loaded:
    """A model and its artifact; ``tokenizer`` is the one it was trained with (manifest)."""

    artifact: Artifact
    model: Any

    @cached_property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(TextConfig.from_dict(self.artifact.manifest.get("text")))


@dataclass
class Registry:
    """Model sets by name (the corpus name), each a dict kind -> Loaded."""

    sets: dict[str, dict[str, Loaded]] = field(default_factory=dict)
    default: str | None = None
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_dir(cls, root: str | Path, default: str | None = None) -> Registry:
        reg = cls(default=default)
        for name, path in model_sets(root).items():
            reg.sets[name] = {}
            for kind, package in FAMILIES.items():
                kind_dir = path / kind
                if not (kind_dir / "CURRENT").is_file():
                    continue
                try:
                    artifact = load_current(kind_dir)
                    loader = importlib.import_module(package).load_artifact
                    reg.sets[name][kind] = Loaded(artifact, loader(artifact))
                except Exception as e:  # noqa: BLE001
                    # One broken model (bad file, or saved by an incompatible code version)
                    # must not take the others down; /ready and the log report it.
                    msg = f"{name}/{kind}: {e}"
                    log.error("not loaded: %s", msg)
                    reg.errors.append(msg)
        if default is not None and default not in reg.sets:
            raise ArtifactError(f"--default-model {default!r} is not among {sorted(reg.sets)}")
        return reg

    def add(self, name: str, kind: str, artifact: Artifact, model: Any) -> None:
        """Register an already-loaded model (tests, embedding the service in another app)."""
        self.sets.setdefault(name, {})[kind] = Loaded(artifact, model)

    def get(self, kind: str, name: str | None = None) -> tuple[str, Loaded]:
        """The model of ``kind`` in set ``name`` (or the default set); 404/503 otherwise."""
        if name is None:
            name = self.default_name(kind)
        elif name not in self.sets:
            raise ApiError(404, "unknown_model", f"no model set named {name!r}", "model")
        loaded = self.sets[name].get(kind)
        if loaded is None:
            raise ApiError(503, "model_unavailable", f"no {kind} model is loaded in {name!r}")
        return name, loaded

    def default_name(self, kind: str) -> str:
        if self.default is not None:
            return self.default
        if len(self.sets) == 1:
            return next(iter(self.sets))
        having = [n for n, s in self.sets.items() if kind in s]
        if len(having) == 1:
            return having[0]
        if not having:
            raise ApiError(503, "model_unavailable", f"no {kind} model is loaded")
        raise ApiError(
            422, "missing_field", f"several model sets are loaded ({', '.join(having)}); "
            "name one in 'model'", "model",
        )
