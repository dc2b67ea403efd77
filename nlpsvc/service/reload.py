"""Hot reload: serve a newly published version without a restart, and never a broken one.

``nlpsvc train`` publishes by replacing ``<set>/<kind>/CURRENT`` (artifacts.py). Each worker
polls those small files every ``RELOAD_INTERVAL`` seconds (2 by default under ``nlpsvc serve``)
in a daemon thread. When one names a new version, the thread loads it next to the one serving,
verifies it (manifest hashes, the family's loader, then a one-sentence smoke query) and only then
swaps it in with one dictionary assignment: requests already running finish on the old model,
the next ones get the new one, none fails or waits for the load. A version that fails is not
swapped in: the old one keeps serving and ``/ready`` lists the error with the version that is
serving instead. New model sets and kinds published after start-up are picked up the same way.

``SIGHUP`` to the gunicorn master is the other way: gunicorn's graceful reload starts fresh
workers (which load the current versions) and retires the old ones after their request.

The load shares the worker's CPU and GIL with requests; on the tiny and demo models it takes
milliseconds to a second. Polling costs a ``read`` of each ``CURRENT`` per interval.
"""

from __future__ import annotations

import importlib
import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nlpsvc.artifacts import load_current, model_sets
from nlpsvc.kinds import LM_FAMILIES
from nlpsvc.service.registry import FAMILIES, Loaded, Registry, _current_name, public_message

log = logging.getLogger(__name__)

SMOKE_TEXT = "the"


def smoke_test(kind: str, loaded: Loaded) -> None:
    """A query the new model must answer before it serves (raises when it cannot)."""
    if kind in LM_FAMILIES:
        from nlpsvc.scoring import LanguageModel

        lm = LanguageModel(model=loaded.model, tokenizer=loaded.tokenizer,
                           artifact=loaded.artifact)
        result = lm.score_texts([SMOKE_TEXT])[0]
        value = result["log10_prob"]
        if value is not None and not math.isfinite(value):
            raise ValueError(f"smoke test: log10 P({SMOKE_TEXT!r}) is {value}")
    elif kind == "classifier":
        labels = loaded.model.classify([SMOKE_TEXT], top_k=1)[0]["labels"]
        if not labels or not math.isfinite(labels[0]["prob"]):
            raise ValueError("smoke test: no label probability")
    elif kind == "chatbot":
        loaded.model.reply(SMOKE_TEXT, [], beam=1, n_best=1, max_len=2)


Swapped = Callable[[str, str, str, str | None], None]  # (set, kind, new version, old version)


class Reloader:
    """Polls a registry's models folder and swaps in verified new versions (see module)."""

    def __init__(self, registry: Registry, root: str | Path | None = None,
                 on_swap: Swapped | None = None) -> None:
        root = root if root is not None else registry.root
        if root is None:
            raise ValueError("hot reload needs the models folder the registry was loaded from")
        self.registry, self.root, self.on_swap = registry, Path(root), on_swap
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> list[tuple[str, str, str]]:
        """One poll: load what changed. Returns (set, kind, version) for each swap made."""
        reg = self.registry
        swapped = []
        try:
            sets = model_sets(self.root)
        except Exception as e:  # noqa: BLE001 - the folder moved; keep serving what we have
            log.warning("hot reload: cannot list %s: %s", self.root, e)
            return swapped
        for name, path in sets.items():
            for kind in FAMILIES:
                kind_dir = path / kind
                current = _current_name(kind_dir)
                if current is None or reg.current.get((name, kind)) == current:
                    continue
                reg.current[name, kind] = current  # tried once per publish, not every poll
                version = self._load(name, kind, kind_dir, current)
                if version is not None:
                    swapped.append((name, kind, version))
        return swapped

    def _load(self, name: str, kind: str, kind_dir: Path, current: str) -> str | None:
        reg = self.registry
        old = reg.sets.get(name, {}).get(kind)
        old_version = old.artifact.version if old is not None else None
        if old_version == current:
            return None
        try:
            artifact = load_current(kind_dir, fallback=False)  # hashes checked here
            loader = importlib.import_module(FAMILIES[kind]).load_artifact
            loaded = Loaded(artifact, loader(artifact))
            if kind == "embeddings":  # as at start-up (similar.py): one BLAS thread per worker
                from nlpsvc.embeddings import pin_threads

                pin_threads()
            smoke_test(kind, loaded)
        except Exception as e:  # noqa: BLE001 - whatever fails, the old version keeps serving
            log.error("hot reload: %s/%s %s not swapped in (serving %s): %s", name, kind,
                      current, old_version or "nothing", e)
            reg.errors = [*self._other_errors(name, kind), {
                "model": name, "kind": kind, "version": current, "error": public_message(e),
                "serving": old_version}]
            return None
        # One assignment each: a request sees the old set or the new one, never a mix.
        reg.sets[name] = {**reg.sets.get(name, {}), kind: loaded}
        reg.errors = self._other_errors(name, kind)
        log.info("hot reload: %s/%s now serves %s (was %s)", name, kind, artifact.version,
                 old_version or "nothing")
        if self.on_swap is not None:
            self.on_swap(name, kind, artifact.version, old_version)
        return artifact.version

    def _other_errors(self, name: str, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.registry.errors
                if not (e.get("model") == name and e.get("kind") == kind)]

    def start(self, interval: float) -> None:
        """Poll every ``interval`` seconds in a daemon thread (in the worker, after fork)."""
        if self._thread is not None:
            return

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.check()
                except Exception:  # noqa: BLE001 - never let the poller die
                    log.exception("hot reload: poll failed")

        self._thread = threading.Thread(target=run, name="nlpsvc-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
