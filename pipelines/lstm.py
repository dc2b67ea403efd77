"""LSTM LM pipeline: corpus sentences -> running text -> BPTT training -> held-out perplexity,
λ of the mix with the corpus's n-gram model -> publish.

Config: the ``[lstm]`` table (``nlpsvc.lstm.config.LstmConfig``; ``lstm.max_minutes`` is the
time budget). Perplexities use the n-gram model's conventions (each sentence from a fresh
state, ``</s>`` counted, OOVs scored as ``<unk>``), so ``perplexity`` here and in the n-gram
manifest compare. When an n-gram model of the same corpus (same corpus hash and tokenizer) is
published in the output folder, λ is tuned on the validation split and stored under ``mix``;
``nlpsvc train`` runs ``ngram`` before ``lstm`` for that. An interrupted training resumes from
``<out>/<corpus>/lstm/.checkpoint`` when the corpus and config are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nlpsvc.artifacts import CURRENT, ArtifactError, load_current
from nlpsvc.lstm.config import LstmConfig
from nlpsvc.lstm.data import BpttBatches, build_vocab, stream_ids
from nlpsvc.lstm.lm import LstmLM
from nlpsvc.lstm.mix import interpolate, tune_lambda
from nlpsvc.lstm.model import LSTMNet
from nlpsvc.lstm.train import fit, plot_curves
from nlpsvc.ngram.vocab import UNK_ID
from pipelines.base import Pipeline, Result, TrainContext

log = logging.getLogger(__name__)

HOLDOUT_EVERY = 20  # no valid split: every 20th training sentence is held out


def _fingerprint(corpus_sha: str, cfg: LstmConfig, text: dict[str, Any]) -> str:
    blob = json.dumps({"corpus": corpus_sha, "config": asdict(cfg), "text": text}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def held_out_scores(lm: LstmLM, sentences: list[list[str]]) -> tuple[np.ndarray, int]:
    """Every token's log10 p (words and ``</s>``, sentence by sentence) and the OOV count."""
    ids = lm.encode(sentences)
    oov = sum(1 for s in ids for i in s if i == UNK_ID)
    return np.concatenate(lm.token_log10(ids)), oov


def _perplexity(lp: np.ndarray) -> float:
    return round(float(10.0 ** (-lp.sum() / lp.size)), 4)


def _figures(lp: np.ndarray, oov: int, split: str) -> dict[str, Any]:
    """The n-gram pipeline's held-out keys (``NgramModel.evaluate``'s conventions)."""
    return {f"{split}_perplexity": _perplexity(lp), f"{split}_tokens": int(lp.size),
            f"{split}_oov": oov, f"{split}_log10_prob": round(float(lp.sum()), 4)}


class LstmPipeline(Pipeline):
    kind = "lstm"

    def has_data(self, corpus: Any) -> bool:
        return bool(corpus.has_text)

    def run(self, ctx: TrainContext) -> Result:
        cfg: LstmConfig = self.config(ctx)
        before = torch.get_num_threads()
        if cfg.threads > 0:  # training and the held-out scoring after it
            torch.set_num_threads(cfg.threads)
        try:
            return self._run(ctx, cfg)
        finally:
            torch.set_num_threads(before)

    def _run(self, ctx: TrainContext, cfg: LstmConfig) -> Result:
        started = time.perf_counter()
        corpus = ctx.corpus
        split = {s: [list(t) for t in corpus.sentences(s)] for s in ("train", "valid", "test")}
        if not split["train"]:
            raise ValueError(f"corpus {corpus.name!r}: no training sentences")
        held_from_train = not split["valid"]
        if held_from_train:
            split["valid"] = split["train"][::HOLDOUT_EVERY]
            split["train"] = [s for i, s in enumerate(split["train"]) if i % HOLDOUT_EVERY]
        vocab = build_vocab(split["train"], cfg.min_count, cfg.max_vocab)
        # fails with a clear message before any training when the text is too short
        batches = BpttBatches.from_stream(stream_ids(split["train"], vocab), cfg.batch_size,
                                          cfg.bptt)
        torch.manual_seed(cfg.seed)
        net = LSTMNet(cfg.model_config(len(vocab))).to(cfg.device)
        lm = LstmLM(net, vocab, cfg.eval_batch_size)

        workdir = ctx.out / corpus.name / self.kind / ".checkpoint"
        fingerprint = _fingerprint(corpus.sha256(), cfg, ctx.text.to_dict())
        stamp = workdir / "fingerprint"
        if workdir.exists() and (not cfg.resume or not stamp.is_file()
                                 or stamp.read_text().strip() != fingerprint):
            shutil.rmtree(workdir)  # another corpus or config: nothing to resume
        workdir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint)
        fitted = fit(lm, batches, split["valid"], cfg, workdir, progress=ctx.progress)

        metrics: dict[str, Any] = {}
        # each held-out split scored once; the figures and the mix come from these arrays
        scores = {s: held_out_scores(lm, split[s]) for s in ("valid", "test") if split[s]}
        for s, (lp, oov) in scores.items():
            metrics.update(_figures(lp, oov, s))
        main = "valid"  # as the n-gram pipeline, so the two summary figures compare
        metrics.update(perplexity=metrics[f"{main}_perplexity"], held_out_split=main,
                       best_epoch=fitted.best_epoch, stopped=fitted.stopped,
                       resumed_from_epoch=fitted.resumed_from,
                       train_minutes=round(fitted.seconds / 60, 2))
        if cfg.carry_state:  # the running-text figure papers report, labelled as such
            for s in ("valid", "test"):
                try:
                    run = lm.evaluate_running(split[s])
                except ValueError:  # too little text for 10 parallel streams
                    continue
                metrics[f"{s}_perplexity_carry_state"] = round(run["perplexity"], 4)
        mix = self.tune_mix(ctx, split, scores, main) if cfg.mix else None
        if mix:
            metrics.update({k: v for k, v in mix.items() if k.startswith("mix_")})

        def write(folder: Path) -> None:
            lm.save(folder)
            plot_curves(fitted.history, folder / "curves.png")

        data = {"vocab_size": len(vocab), "parameters": sum(p.numel() for p in
                                                             lm.net.parameters()),
                "train_tokens": batches.tokens(), "valid_held_out_from_train": held_from_train,
                "sentences": {s: len(v) for s, v in split.items()}}
        res = self.publish(
            ctx, write, config={"lstm": asdict(cfg), "text": ctx.text.to_dict()},
            metrics=metrics, libraries=("torch", "safetensors"), started=started,
            metric="perplexity",
            extra={"data": data, "curves": fitted.history,
                   **({"mix": mix} if mix else {})},
        )
        shutil.rmtree(workdir, ignore_errors=True)  # published: nothing left to resume
        return res

    @staticmethod
    def tune_mix(ctx: TrainContext, split: dict[str, list[list[str]]],
                 scores: dict[str, tuple[np.ndarray, int]], main: str) -> dict[str, Any] | None:
        """λ on validation with the corpus's published n-gram model, and the mix's figures;
        None when there is no such model (or it was trained on other data or text settings)."""
        from nlpsvc import ngram

        kind_dir = ctx.out / ctx.corpus.name / "ngram"
        if not (kind_dir / CURRENT).is_file():
            log.info("lstm: no ngram model in %s; mix λ not tuned", kind_dir)
            return None
        try:
            art = load_current(kind_dir)
        except ArtifactError as e:
            log.warning("lstm: ngram model not usable for the mix (%s)", e)
            return None
        if (art.manifest.get("corpus_sha256") != ctx.corpus.sha256()
                or art.manifest.get("text") != ctx.text.to_dict()):
            log.warning("lstm: ngram model %s has another corpus or tokenizer; mix λ not tuned",
                        art.version)
            return None
        ng = ngram.load_artifact(art)
        if not getattr(ng, "proper", True):
            return None
        ng_lp = {s: np.array([t.log10_prob for r in ng.score_batch(split[s], per_token=True)
                              for t in r.per_token]) for s in scores}
        lam = tune_lambda(scores["valid"][0], ng_lp["valid"])
        out: dict[str, Any] = {"lambda": lam, "tuned_on": "valid", "ngram_version": art.version}
        for s, (lp, _) in scores.items():
            out[f"mix_{s}_perplexity"] = _perplexity(interpolate(lp, ng_lp[s], lam))
            out[f"ngram_{s}_perplexity"] = _perplexity(ng_lp[s])
        out["mix_perplexity"] = out[f"mix_{main}_perplexity"]
        return out
