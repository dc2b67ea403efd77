"""Embeddings pipeline: corpus -> token file -> gensim -> evaluation -> published KeyedVectors.

The train split is tokenized once into a temporary token file (memory flat, and gensim's
``epochs + 1`` passes then cost a ``str.split`` per line, not a tokenizer run). Metrics in the
manifest: WordSim-353 / SimLex-999 Spearman and Google-analogy accuracy, each with its OOV
ratio, the held-out (valid split) OOV ratio, and the training throughput.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nlpsvc.embeddings import (
    EmbeddingsConfig,
    EmbeddingsError,
    TokenFile,
    apply_phrases,
    evaluate_standard,
    fit,
    learn_phrases,
    save_vectors,
)
from nlpsvc.embeddings.index import AnnIndex, build_index
from pipelines.base import Pipeline, Result, TrainContext

log = logging.getLogger(__name__)

MAIN_METRIC = "wordsim353_spearman"


def oov_ratio(vocab: Any, sentences: Iterable[list[str]]) -> float | None:
    """Share of held-out tokens with no trained vector (None when there is no held-out text)."""
    total = oov = 0
    for tokens in sentences:
        total += len(tokens)
        oov += sum(1 for t in tokens if t not in vocab)
    return round(oov / total, 6) if total else None


class EmbeddingsPipeline(Pipeline):
    kind = "embeddings"

    def has_data(self, corpus: Any) -> bool:
        return bool(corpus.has_text)

    def run(self, ctx: TrainContext) -> Result:
        started = time.perf_counter()
        cfg: EmbeddingsConfig = self.config(ctx)
        corpus = ctx.corpus
        train = corpus.sentences("train")
        frozen = learn_phrases(train, cfg) if cfg.phrases else None
        transform = (lambda tokens: frozen[tokens]) if frozen is not None else None
        with tempfile.TemporaryDirectory(prefix="nlpsvc-embeddings-") as tmp:
            tokens, tstats = TokenFile.write(Path(tmp) / "train.tok", train, transform)
            if tstats.tokens == 0:
                raise EmbeddingsError(f"corpus {corpus.name!r} has no training text")
            log.info("embeddings: %d sentences, %d tokens tokenized in %.1f s", tstats.sentences,
                     tstats.tokens, time.perf_counter() - started)
            result = fit(tokens, cfg, progress=ctx.progress)
        kv = result.wv

        metrics: dict[str, Any] = evaluate_standard(kv) if cfg.evaluate else {}
        valid = corpus.sentences("valid")
        if frozen is not None:
            valid = apply_phrases(valid, frozen)
        metrics["valid_oov_ratio"] = oov_ratio(kv.key_to_index, valid)
        metrics["vocab_size"] = len(kv)
        metrics["words_per_second"] = result.stats["words_per_second"]

        index, ann = None, None
        if len(kv) > cfg.ann_threshold:
            index, ann = build_index(kv.vectors, cfg.ann_recall, seed=cfg.seed)
            metrics["ann_recall_at_10"] = ann["recall_at_10"]

        def write(folder: Path) -> None:
            save_vectors(kv, folder)
            if index is not None:
                index.save(folder / AnnIndex.FILE)

        extra: dict[str, Any] = {"training": result.stats}
        if ann is not None:
            extra["ann"] = {**ann, "served": index is not None}
        if frozen is not None:
            extra["phrases"] = len(frozen.phrasegrams)
        return self.publish(
            ctx, write, config=cfg.to_dict(), metrics=metrics,
            libraries=("gensim", "scipy", "faiss-cpu"), extra=extra, started=started,
            metric=MAIN_METRIC,
        )
