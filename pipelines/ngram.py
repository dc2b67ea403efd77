"""The n-gram LM pipeline: corpus sentences -> counts + smoothing -> held-out perplexity -> publish.

Config (``[ngram]`` table, ``--set ngram.KEY=VALUE``): see ``nlpsvc.ngram.config.NgramConfig``.
The artifact holds the engine's compact numpy model in ``model/`` (memory-mapped by the service)
and, with ``ngram.arpa = true``, an ARPA copy ``model.arpa`` (``nlpsvc export`` writes one on
demand).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nlpsvc.config import ConfigError
from nlpsvc.ngram.config import NgramConfig
from pipelines.base import Pipeline, Result, TrainContext


class _Counted:
    """A restartable stream that shows a progress bar on each pass."""

    def __init__(self, stream: Any, desc: str, enabled: bool) -> None:
        self.stream, self.desc, self.enabled = stream, desc, enabled

    def __iter__(self) -> Iterator[list[str]]:
        if not self.enabled:
            return iter(self.stream)
        from tqdm import tqdm

        return iter(tqdm(self.stream, desc=self.desc, unit=" sent", leave=False))


class NgramPipeline(Pipeline):
    kind = "ngram"

    def has_data(self, corpus: Any) -> bool:
        return bool(corpus.has_text)

    def run(self, ctx: TrainContext) -> Result:
        from nlpsvc import ngram
        from nlpsvc.ngram.build import bounded
        from nlpsvc.ngram.progress import Stage

        started = time.perf_counter()
        cfg: NgramConfig = self.config(ctx)
        corpus = ctx.corpus
        # The bounded build shows its own per-stage bars; the in-memory one a bar per sentence.
        big = bounded(cfg.smoothing, cfg.order, cfg.prune)
        train = corpus.sentences("train")
        if not big:
            train = _Counted(train, "ngram: counting", ctx.progress)
        # Spill files and the built model live in one temp area until the artifact is
        # published, and go whatever happens (nothing is published on a build error).
        with ngram.TempArea(cfg.temp_dir) as area:
            if ctx.dask is not None:  # counted on the cluster's workers (issue 11)
                folder = _build_on_dask(ctx, cfg, area)
            else:
                folder = ngram.train_to_folder(
                    train, area.file(ngram.MODEL_DIR), order=cfg.order,
                    smoothing=cfg.smoothing, min_count=cfg.min_count, max_size=cfg.max_vocab,
                    prune=cfg.prune, memory=cfg.memory, progress=ctx.progress, area=area,
                    **cfg.estimator_params(),
                )
            model = ngram.NgramModel.load(folder)
            metrics = self._evaluate(model, corpus, ctx.progress)

            def write(dest: Path) -> None:
                # The built folder is already the saved model (NgramModel.save's files): copy
                # it file by file rather than re-save the mapped arrays through memory.
                with Stage("publish", sum(model.counts()), "n-grams", ctx.progress) as stage:
                    shutil.copytree(folder, dest / ngram.MODEL_DIR)
                    stage.update(sum(model.counts()))
                if cfg.arpa:
                    model.to_arpa(dest / "model.arpa")

            return self.publish(
                ctx, write, config={"ngram": asdict(cfg), "text": ctx.text.to_dict()},
                metrics=metrics, started=started, metric="perplexity",
                extra={"model_info": _info(model)},
            )

    @staticmethod
    def _evaluate(model: Any, corpus: Any, progress: bool) -> dict[str, Any]:
        """Held-out perplexity on valid and test (whichever exist); valid is the main one."""
        metrics: dict[str, Any] = {}
        for split in ("valid", "test"):
            held = corpus.sentences(split)
            if next(iter(held), None) is None:
                continue
            ev = model.evaluate(_Counted(held, f"ngram: {split}", progress))
            for key in ("perplexity", "tokens", "oov", "log10_prob"):
                if key in ev:
                    metrics[f"{split}_{key}"] = ev[key]
        main = "valid" if "valid_perplexity" in metrics else "test"
        if f"{main}_perplexity" in metrics:
            metrics["perplexity"] = metrics[f"{main}_perplexity"]
            metrics["held_out_split"] = main
        metrics["proper"] = bool(getattr(model, "proper", True))
        return metrics


def _build_on_dask(ctx: TrainContext, cfg: NgramConfig, area: Any) -> Path:
    """The bounded mkn build of the train split, counted on ``ctx.dask``'s workers."""
    from corpora.partitions import balanced_part_bytes, part_sentences, text_parts
    from nlpsvc.dask.cluster import check_readable
    from nlpsvc.ngram import MODEL_DIR
    from nlpsvc.ngram.build import bounded
    from nlpsvc.ngram.distributed import build_mkn_dask

    if not bounded(cfg.smoothing, cfg.order, cfg.prune):
        raise ConfigError("--backend dask builds modified Kneser-Ney (ngram.smoothing = mkn) "
                          "of order >= 2 without ngram.prune; train this config without it")
    check_readable(ctx.dask, area.path, "the temp folder (ngram.temp_dir)")
    check_readable(ctx.dask, ctx.corpus.path if ctx.corpus.path.is_dir()
                   else ctx.corpus.path.parent, "the corpus")
    unknown = sorted(set(cfg.estimator_params()) - {"discount_fallback"})
    if unknown:
        raise ConfigError(f"mkn: unknown parameter(s) {', '.join(unknown)}")
    workers = len(ctx.dask.scheduler_info()["workers"])
    parts = text_parts(ctx.corpus, "train", balanced_part_bytes(ctx.corpus, "train", workers))
    return build_mkn_dask(
        ctx.dask, parts, part_sentences, area.file(MODEL_DIR),
        cfg.order, min_count=cfg.min_count, max_size=cfg.max_vocab,
        discount_fallback=cfg.estimator_params().get("discount_fallback"), memory=cfg.memory,
        area=area, progress=ctx.progress)


def _info(model: Any) -> dict[str, Any]:
    """Sizes worth showing in ``nlpsvc info`` (whatever the engine exposes)."""
    out: dict[str, Any] = {}
    for name in ("order", "smoothing"):
        if hasattr(model, name):
            out[name] = getattr(model, name)
    vocab = getattr(model, "vocab", None)
    if vocab is not None:
        out["vocab_size"] = len(vocab)
    counts = getattr(model, "counts", None)
    if isinstance(counts, list | tuple):
        out["ngrams"] = [int(c) for c in counts]
    return out
