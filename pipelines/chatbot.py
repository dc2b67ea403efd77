"""Chatbot pipeline: dialogue files -> pairs -> seq2seq training -> held-out figures -> artifact.

Dialogues come from ``dialogs*.tsv``, ``dialogs*.jsonl`` and DailyDialog's
``dialogues_{train,validation,test}.txt`` (SPEC §2), through the corpus reader, which skips and
counts empty turns, single-turn dialogues and malformed lines (``corpus.skipped``); the manifest
reports those counts, so bad records never stop the run. After training, the training pairs
become the retrieval fallback's index (``nlpsvc.chatbot.retrieval``) and its threshold is tuned
on the validation pairs with the service's default search (beam 5): the one that maximises token
F1 against the references, or no fallback when none gains. An interrupted training resumes from
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from nlpsvc.chatbot.bot import Chatbot, DecodeDefaults, confidence_of
from nlpsvc.chatbot.data import LengthLimits, Pair, PairStats, encode_pairs, make_pairs
from nlpsvc.chatbot.evaluate import generation_metrics, perplexity
from nlpsvc.chatbot.model import Seq2Seq, Seq2SeqConfig
from nlpsvc.chatbot.retrieval import ReplyIndex, tune_threshold
from nlpsvc.chatbot.train import TrainConfig, fit, load_pretrained_embeddings, plot_curves
from nlpsvc.chatbot.vocab import Vocab
from nlpsvc.config import to_dataclass
from nlpsvc.text import Tokenizer
from pipelines.base import Pipeline, Result, TrainContext

log = logging.getLogger(__name__)


@dataclass
class ChatbotConfig:
    """The ``[chatbot]`` config table (SPEC §7 keys first)."""

    epochs: int = 20
    hidden_size: int = 256
    attention: str = "general"  # dot | general | concat | bahdanau
    max_minutes: float = 2.0  # training time budget (0 = none); the best epoch so far is kept
    embedding_dim: int = 256
    num_layers: int = 2
    input_feeding: bool = True
    dropout: float = 0.3
    tie_embeddings: bool = True
    # word vectors to initialise the embedding: word2vec text/binary, an nlpsvc embeddings
    # artifact folder or a gensim .kv (nlpsvc.embeddings.pretrained); "": random
    pretrained_embeddings: str = ""
    min_count: int = 2  # rarer words become <unk>
    max_vocab: int = 30000
    max_src_len: int = 40
    max_tgt_len: int = 30
    length_policy: str = "truncate"  # or "drop" pairs over the limits
    context_turns: int = 0  # earlier turns joined to the prompt with <sep>
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    lr_schedule: str = "plateau"  # plateau | exponential | none
    lr_gamma: float = 0.5
    clip: float = 5.0
    teacher_forcing: float = 1.0
    teacher_forcing_end: float = 1.0
    teacher_forcing_epochs: int = 10
    label_smoothing: float = 0.0
    word_dropout: float = 0.0  # alpha: a word seen c times becomes <unk> w.p. alpha / (alpha + c)
    patience: int = 3
    seed: int = 1
    # torch.set_num_threads for training (0 = torch's default). 1 by default: this small model
    # gains little from a second thread, and threads that oversubscribe busy cores crawl.
    threads: int = 1
    resume: bool = True
    decode_min_len: int = 1
    decode_no_repeat_ngram: int = 3
    decode_length_penalty: float = 1.0
    # MMI-antiLM (nlpsvc.chatbot.decode): weight lambda over the first gamma reply words; off by
    # default, since lambda and gamma are chosen per model on validation data (bench.chatbot)
    decode_anti_lm: float = 0.0
    decode_anti_lm_steps: int = 0
    decode_no_repeat_word: bool = True  # never the same word twice in a row
    # answer an unsure generated reply with the training reply of the most similar prompt;
    # the threshold is tuned on the validation pairs (no fallback when it does not help there)
    retrieval_fallback: bool = True
    eval_max_pairs: int = 2000  # test pairs replied to for BLEU / distinct-n
    min_words: int = 10  # fewer vocabulary words than this: the corpus is too small

    def __post_init__(self) -> None:
        # fail fast on bad values: build (and discard) the pieces that validate themselves
        self.model_config(10)
        self.train_config()
        self.limits()
        self.decode_defaults()
        if self.context_turns < 0 or self.min_count < 1:
            raise ValueError("context_turns must be >= 0 and min_count >= 1")

    def decode_defaults(self) -> DecodeDefaults:
        return DecodeDefaults(self.decode_min_len, self.decode_no_repeat_ngram,
                              self.decode_length_penalty, self.decode_anti_lm,
                              self.decode_anti_lm_steps, self.decode_no_repeat_word)

    def model_config(self, vocab_size: int) -> Seq2SeqConfig:
        return Seq2SeqConfig(
            vocab_size=vocab_size, embedding_dim=self.embedding_dim, hidden_size=self.hidden_size,
            num_layers=self.num_layers, attention=self.attention,
            input_feeding=self.input_feeding, dropout=self.dropout,
            tie_embeddings=self.tie_embeddings,
        )

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
            weight_decay=self.weight_decay, lr_schedule=self.lr_schedule, lr_gamma=self.lr_gamma,
            clip=self.clip, teacher_forcing=self.teacher_forcing,
            teacher_forcing_end=self.teacher_forcing_end,
            teacher_forcing_epochs=self.teacher_forcing_epochs,
            label_smoothing=self.label_smoothing, word_dropout=self.word_dropout,
            patience=self.patience, seed=self.seed,
            threads=self.threads, max_minutes=self.max_minutes,
        )

    def limits(self) -> LengthLimits:
        return LengthLimits(self.max_src_len, self.max_tgt_len, self.length_policy)


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

    def check(self, ctx: TrainContext) -> None:
        to_dataclass(ChatbotConfig, ctx.section("chatbot"), "chatbot")

    def run(self, ctx: TrainContext) -> Result:
        started = time.perf_counter()
        cfg = to_dataclass(ChatbotConfig, ctx.section("chatbot"), "chatbot")
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
        vocab = Vocab.build((side for p in pairs["train"] for side in p),
                            min_count=cfg.min_count, max_size=cfg.max_vocab,
                            min_words=cfg.min_words)

        model = Seq2Seq(cfg.model_config(len(vocab)))
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
