"""Chatbot pipeline: dialogue files -> pairs -> seq2seq training -> held-out figures -> artifact.

Dialogues come from ``dialogs*.tsv``, ``dialogs*.jsonl`` and DailyDialog's
``dialogues_{train,validation,test}.txt`` (SPEC §2), through the corpus reader, which skips and
counts empty turns, single-turn dialogues and malformed lines (``corpus.skipped``); the manifest
reports those counts, so bad records never stop the run. After training, the training pairs
become the retrieval fallback's index (``nlpsvc.chatbot.retrieval``) and its threshold is tuned
on the validation pairs with the service's default search (beam 5): the one that maximises
content-word F1 against the references, or no fallback when none gains. Identical (message,
reply) pairs are kept once in train and valid (``chatbot.dedup_pairs``): the demo corpus holds
a few tech-support exchanges ~120 times each, which otherwise teach the model to answer
everything with them. An interrupted training resumes from
the checkpoint kept in ``<out>/<corpus>/chatbot/.checkpoint`` when the corpus and config
are unchanged; the previously published version keeps serving meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from nlpsvc.chatbot.bot import Chatbot, confidence_of
from nlpsvc.chatbot.config import ChatbotConfig
from nlpsvc.chatbot.data import Pair, PairStats, encode_pairs, make_pairs
from nlpsvc.chatbot.evaluate import generation_metrics, perplexity
from nlpsvc.chatbot.model import Seq2Seq
from nlpsvc.chatbot.retrieval import ReplyIndex, tune_threshold
from nlpsvc.chatbot.train import fit, load_pretrained_embeddings, plot_curves
from nlpsvc.chatbot.vocab import Vocab
from nlpsvc.text import Tokenizer
from pipelines.base import Pipeline, Result, TrainContext

log = logging.getLogger(__name__)


def read_pairs(corpus: Any, split: str, tokenizer: Tokenizer, cfg: ChatbotConfig,
               stats: PairStats) -> list[Pair]:
    """Training pairs of one split. The reader already dropped empty turns and single-turn
    dialogues; they are added to ``stats`` so that it counts every dialogue of the split, as
    ``make_pairs`` does for the turns that tokenise to nothing."""
    pairs = make_pairs(corpus.dialogs(split), tokenizer, cfg.limits(),
                       context_turns=cfg.context_turns, stats=stats)
    skipped = corpus.skipped.get("dialogs", split)
    stats.dialogs += skipped["single_turn"]
    stats.single_turn_dialogs += skipped["single_turn"]
    stats.empty_turns += skipped["empty_turns"]
    return pairs


def _fingerprint(corpus_sha: str, cfg: ChatbotConfig, text: dict[str, Any]) -> str:
    blob = json.dumps({"corpus": corpus_sha, "config": asdict(cfg), "text": text}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class ChatbotPipeline(Pipeline):
    kind = "chatbot"

    def has_data(self, corpus: Any) -> bool:
        return bool(corpus.has_dialogs)

    def run(self, ctx: TrainContext) -> Result:
        started = time.perf_counter()
        cfg: ChatbotConfig = self.config(ctx)  # checked by nlpsvc.config.family_config
        tokenizer = Tokenizer(ctx.text)
        pairs, stats = {}, {}
        for split in ("train", "valid", "test"):
            stats[split] = PairStats()
            pairs[split] = read_pairs(ctx.corpus, split, tokenizer, cfg, stats[split])
        malformed = ctx.corpus.skipped.get("dialogs")["malformed"]
        if not pairs["train"]:
            raise ValueError(f"corpus {ctx.corpus.name!r}: no training dialogue pairs "
                             "(every dialogue needs at least two non-empty turns; "
                             f"{ctx.corpus.skipped.summary('dialogs', 'train')})")
        if not pairs["valid"]:  # small corpora: hold out every 20th training pair
            pairs["valid"] = pairs["train"][::20]
            pairs["train"] = [p for i, p in enumerate(pairs["train"]) if i % 20]
        test_split = "test" if pairs["test"] else "valid"
        duplicates = {}
        if cfg.dedup_pairs:
            for split in ("train", "valid"):
                unique = list(dict.fromkeys((tuple(s), tuple(t)) for s, t in pairs[split]))
                duplicates[split] = len(pairs[split]) - len(unique)
                pairs[split] = [(list(s), list(t)) for s, t in unique]
        vocab = Vocab.build((side for p in pairs["train"] for side in p),
                            min_count=cfg.min_count, max_size=cfg.max_vocab,
                            min_words=cfg.min_words)

        torch.manual_seed(cfg.seed)  # the initial weights too: the same corpus and config
        model = Seq2Seq(cfg.model_config(len(vocab)))  # train the same model (time budget aside)
        found = 0
        if cfg.pretrained_embeddings:
            found = load_pretrained_embeddings(model.embedding, vocab, cfg.pretrained_embeddings)

        workdir = ctx.out / ctx.corpus.name / self.kind / ".checkpoint"
        fingerprint = _fingerprint(ctx.corpus.sha256(), cfg, ctx.text.to_dict())
        stamp = workdir / "fingerprint"
        if workdir.exists() and (not cfg.resume or not stamp.is_file()
                                 or stamp.read_text().strip() != fingerprint):
            shutil.rmtree(workdir)  # another corpus or config: nothing to resume
        workdir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint)

        result = fit(model, encode_pairs(pairs["train"], vocab),
                     encode_pairs(pairs["valid"], vocab), cfg.train_config(), workdir,
                     resume=cfg.resume, progress=ctx.progress)
        defaults = cfg.decode_defaults()
        bot = Chatbot(model, vocab, ctx.text, max_src_len=cfg.max_src_len,
                      max_tgt_len=cfg.max_tgt_len, context_turns=cfg.context_turns,
                      defaults=defaults,
                      index=ReplyIndex.build(pairs["train"]) if cfg.retrieval_fallback else None)
        tuning = self.tune_fallback(bot, pairs["valid"]) if bot.index is not None else {}
        metrics = self.evaluate(bot, pairs[test_split], cfg)
        metrics["fallback"] = tuning
        metrics.update(
            split=test_split,
            valid_perplexity=round(result.best_valid_ppl, 3),
            best_epoch=result.best_epoch,
            stopped=result.stopped,
            resumed_from_epoch=result.resumed_from,
            curves=result.history,
        )
        details = {
            "vocab_size": len(vocab),
            "parameters": sum(p.numel() for p in model.parameters()),
            "pretrained_words": found,
            "pairs": {s: st.as_dict() for s, st in stats.items()},
            "skipped_lines": {"malformed_lines": malformed} if malformed else {},
            "train_pairs": len(pairs["train"]),
            "duplicate_pairs_dropped": duplicates,
            "valid_pairs": len(pairs["valid"]),
        }

        def write(folder: Path) -> None:
            bot.save(folder)
            plot_curves(result.history, folder / "curves.png")

        res = self.publish(ctx, write, config=asdict(cfg), metrics=metrics,
                           libraries=("torch", "sacrebleu"), extra={"data": details},
                           started=started, metric="perplexity")
        shutil.rmtree(workdir, ignore_errors=True)  # published: nothing left to resume
        return res

    @staticmethod
    def tune_fallback(bot: Chatbot, pairs: list, beam: int = 5) -> dict[str, Any]:
        """Set ``bot.defaults``' fallback threshold and minimum similarity from the validation
        ``pairs`` (``retrieval.tune_threshold``, beam ``beam`` as /reply by default); returns
        the tuning figures for the manifest."""
        cases = []
        for src, ref in pairs:
            tokens, _, hyp = bot.answer(src, beam, fallback=False)
            found = bot.retrieve(src)
            cases.append((confidence_of(hyp), tokens, found[1] if found else 0.0,
                          found[0] if found else [], ref))
        rule, figures = tune_threshold(cases)
        d = bot.defaults
        d.fallback_threshold = None if rule is None else round(rule.threshold, 6)
        d.fallback_min_similarity = 0.0 if rule is None else rule.min_similarity
        return {"threshold": d.fallback_threshold, "min_similarity": d.fallback_min_similarity,
                "index_pairs": len(bot.index) if bot.index is not None else 0,
                "tuned_on": "valid", "beam": beam, **figures}

    @staticmethod
    def evaluate(bot: Chatbot, pairs: list, cfg: ChatbotConfig) -> dict[str, Any]:
        """Perplexity over all held-out pairs; BLEU/distinct-n/length/repeats and the fallback
        rate of the default greedy reply (fallback included) on up to eval_max_pairs."""
        ppl = perplexity(bot.model, encode_pairs(pairs, bot.vocab))
        retrieved = 0

        def reply(src: list[str]) -> list[str]:
            nonlocal retrieved
            tokens, used, _ = bot.answer(src, 1)
            retrieved += used
            return tokens

        sub = pairs[: cfg.eval_max_pairs]
        with torch.inference_mode():
            gen = generation_metrics([s for s, _ in sub], [t for _, t in sub], reply)
        return {"perplexity": round(ppl, 3) if math.isfinite(ppl) else None,
                "decoding": "greedy", "generated_pairs": len(sub), **gen,
                "fallback_rate": round(retrieved / max(len(sub), 1), 4)}
