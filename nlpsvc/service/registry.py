"""Loaded models, once per process at start-up (never per request).

Each model family exposes ``load_artifact(artifact) -> model`` in its own package; the registry
imports a family only when a model of that kind is present, so a service with no chatbot never
imports torch.
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from nlpsvc import kinds
from nlpsvc.artifacts import Artifact, ArtifactError, load_current, model_sets
from nlpsvc.service.errors import ApiError
from nlpsvc.service.reqlog import note
from nlpsvc.text import TextConfig, Tokenizer

log = logging.getLogger(__name__)

# kind -> package exposing load_artifact(Artifact) (declared in nlpsvc.kinds)
FAMILIES: dict[str, str] = kinds.packages()


# An absolute path (POSIX or Windows) not inside a word: "/srv/m/x.bin", not "1/2" or "a/b".
_ABS_PATH = re.compile(r"(?<![\w.~-])(?:[A-Za-z]:)?[/\\][^\s'\"(),;]*")


def public_message(error: BaseException) -> str:
    """``error``'s message for clients: one line, every absolute path cut to its last part.

    /ready is unauthenticated; it says which model set, kind and version failed and why, but
    must not reveal where the server's files live (the log keeps the full message).
    """
    message = _ABS_PATH.sub(_last_part, str(error))
    return " ".join(message.split()) or type(error).__name__


def _last_part(match: re.Match[str]) -> str:
    path = match.group()
    colon = ":" if path.endswith(":") else ""  # "/a/b.bin: bad" keeps its colon
    return re.split(r"[/\\]", path.rstrip(":/\\"))[-1] + colon


def _current_name(kind_dir: Path) -> str | None:
    """The version ``CURRENT`` names, or None when it cannot be read."""
    try:
        return (kind_dir / "CURRENT").read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


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
    errors: list[dict[str, str | None]] = field(default_factory=list)  # for /ready
    # (set, kind) -> the CURRENT name read when it was loaded (hot reload compares against it)
    current: dict[tuple[str, str], str | None] = field(default_factory=dict)
    root: Path | None = None  # the models folder it was loaded from (hot reload polls it)

    @classmethod
    def from_dir(cls, root: str | Path, default: str | None = None) -> Registry:
        reg = cls(default=default, root=Path(root))
        for name, path in model_sets(root).items():
            reg.sets[name] = {}
            for kind, package in FAMILIES.items():
                kind_dir = path / kind
                if not (kind_dir / "CURRENT").is_file():
                    continue
                reg.current[name, kind] = _current_name(kind_dir)
                artifact = None
                try:
                    artifact = load_current(kind_dir)
                    loader = importlib.import_module(package).load_artifact
                    reg.sets[name][kind] = Loaded(artifact, loader(artifact))
                except Exception as e:  # noqa: BLE001
                    # One broken model (bad file, or saved by an incompatible code version)
                    # must not take the others down; /ready and the log report it.
                    log.error("not loaded: %s/%s: %s", name, kind, e)
                    version = artifact.version if artifact else _current_name(kind_dir)
                    reg.errors.append({"model": name, "kind": kind, "version": version,
                                       "error": public_message(e)})
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
        note(name, kind, loaded.artifact.version)  # for the request log
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
