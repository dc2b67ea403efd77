"""The common shape of every training pipeline.

A pipeline says whether a corpus has data for it (``has_data``), then ``run`` reads the corpus,
fits, evaluates on the held-out split and publishes one artifact version through
``publish`` (atomic, manifest last). ``nlpsvc train`` runs each pipeline that has data and prints
the ``Result`` rows as a summary table.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpsvc.artifacts import ArtifactWriter, library_versions
from nlpsvc.config import family_config
from nlpsvc.text import TextConfig


@dataclass
class TrainContext:
    """What every pipeline gets: the corpus, the merged config tree and where to publish."""

    corpus: Any  # corpora.readers.Corpus
    config: dict[str, Any]  # merged tree: {"text": {...}, "ngram": {...}, ...}
    out: Path  # models root; artifacts go to out/<corpus.name>/<kind>/<version>/
    progress: bool = True  # show tqdm bars
    dask: Any = None  # --backend dask: a connected distributed.Client (ngram counts on it)

    @property
    def text(self) -> TextConfig:
        return TextConfig.from_dict(self.config.get("text"))

    def section(self, kind: str) -> dict[str, Any]:
        return dict(self.config.get(kind) or {})


@dataclass
class Result:
    """One row of the training summary."""

    kind: str
    version: str
    metric: str  # name of the main held-out metric, e.g. "perplexity"
    value: float | None
    seconds: float
    path: Path
    details: dict[str, Any] = field(default_factory=dict)


class Pipeline(ABC):
    kind: str

    @abstractmethod
    def has_data(self, corpus: Any) -> bool:
        """True when the corpus holds the files this model is trained from."""

    def config(self, ctx: TrainContext) -> Any:
        """This kind's config table as its checked dataclass (declared in ``nlpsvc.kinds``)."""
        return family_config(self.kind, ctx.section(self.kind))

    def check(self, ctx: TrainContext) -> None:
        """Validate this pipeline's config section; called for every pipeline before any runs,
        so a typo in ``--set`` fails in a second, not after an hour of another family's
        training."""
        self.config(ctx)

    @abstractmethod
    def run(self, ctx: TrainContext) -> Result:
        """Read -> fit -> evaluate -> publish; raise on bad data, publishing nothing."""

    def publish(
        self,
        ctx: TrainContext,
        write: Callable[[Path], None],
        *,
        config: dict[str, Any],
        metrics: dict[str, Any],
        libraries: tuple[str, ...] = (),
        extra: dict[str, Any] | None = None,
        started: float,
        metric: str,
    ) -> Result:
        """Write the model files via ``write(folder)`` and publish them with a full manifest."""
        with ArtifactWriter(ctx.out, ctx.corpus.name, self.kind) as w:
            write(w.dir)
            w.manifest.update(
                corpus_sha256=ctx.corpus.sha256(),
                text=ctx.text.to_dict(),
                config=config,
                metrics=metrics,
                libraries=library_versions(*libraries),
                training_seconds=round(time.perf_counter() - started, 3),
                **(extra or {}),
            )
        return Result(
            kind=self.kind,
            version=w.version,
            metric=metric,
            value=metrics.get(metric),
            seconds=time.perf_counter() - started,
            path=w.version_dir,
            details=metrics,
        )
