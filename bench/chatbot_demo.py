"""The demo chatbot before and after issue 14 (suite "chatbot_demo"): what ``make run`` serves.

``make run`` trains the chatbot on ``corpora/demo`` (2,026 chatterbot conversations) with the
corpus' defaults. Before issue 14 it answered "Hello, how are you?" with "i am am." (greedy) and
"i am a of of." (beam 5). Chatbots are trained here through the real ``nlpsvc train
corpora/demo --only chatbot``, one after another on one thread:

* ``before``: the settings of before (2 x 256 LSTM, 2-minute budget), no repetition blocking,
  no retrieval fallback;
* ``before + blocking + fallback``: the same model, with the new decoding defaults (never the
  same word twice in a row; a reply below the tuned confidence threshold replaced by the
  training reply of the best-matching prompt);
* ``shipped``: what ``make run`` trains now (blocking, fallback, identical pairs once);
* ``shipped with a 1 x 128 model``: the same with one 128-unit LSTM layer (a third of the
  training time).

Each is measured on the pipeline's own held-out split (the ``test`` records of the stable hash
split of ``dialogs.jsonl``, 5%; the fallback's threshold is tuned on the ``valid`` 5%, never on
test), greedy and beam 5 (the /reply default): the fraction of replies holding a word twice in a
row, distinct-1/2, mean length, sacrebleu BLEU-4 and token F1 against the reference reply, exact
matches, the fallback rate, and replies to 10 held-out messages.

    python -m bench.chatbot_demo          # ~7 min under the bench lock
    NLPSVC_BENCH_CHATBOT_DEMO_DIR=DIR     # where the models are kept (default /tmp/...)

Figures go to ``bench/results/chatbot_demo.json`` and the ``chatbot_demo`` section of
BENCHMARKS.md, rendered from that JSON.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from bench.report import publish, table

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpora" / "demo"
WORKDIR = Path(os.environ.get("NLPSVC_BENCH_CHATBOT_DEMO_DIR", "/tmp/nlpsvc-bench-chatbot-demo"))
HELLO = "Hello, how are you?"
SAMPLES = 10
OLD_MODEL = ["chatbot.hidden_size=256", "chatbot.embedding_dim=256", "chatbot.num_layers=2",
             "chatbot.dropout=0.3", "chatbot.epochs=20", "chatbot.patience=3",
             "chatbot.max_minutes=2.0"]
OLD_PIPELINE = ["chatbot.decode_no_repeat_word=false", "chatbot.retrieval_fallback=false",
                "chatbot.dedup_pairs=false"]
SMALL_MODEL = ["chatbot.hidden_size=128", "chatbot.embedding_dim=128", "chatbot.num_layers=1",
               "chatbot.dropout=0.2", "chatbot.epochs=60", "chatbot.patience=5"]
VARIANTS = {  # label -> --set options over corpora/demo's own config
    "before": OLD_MODEL + OLD_PIPELINE,
    "before + blocking + fallback": OLD_MODEL + ["chatbot.dedup_pairs=false"],
    "shipped": [],
    "shipped with a 1 x 128 model": SMALL_MODEL,
}
DECODINGS = {"greedy": 1, "beam 5": 5}


def train(label: str, sets: list[str]) -> Path:
    """``nlpsvc train corpora/demo --only chatbot`` into a fresh folder of its own."""
    from nlpsvc.cli import main as cli

    out = WORKDIR / label.replace(" ", "_").replace("+", "")
    shutil.rmtree(out, ignore_errors=True)
    args = ["train", str(CORPUS), "--only", "chatbot", "--out", str(out), "-q"]
    for s in sets:
        args += ["--set", s]
    rc = cli(args)
    if rc:
        raise RuntimeError(f"nlpsvc train for {label!r} exited {rc}")
    return out


def held_out(bot: Any) -> tuple[list[tuple[list[str], list[str]]], int, float]:
    """The distinct test pairs of the pipeline's own split (cut to the bot's limits as in
    training; the demo repeats a few exchanges ~120 times, and the hash split keeps each
    repeated line in one split), all test pairs, and the fraction of the distinct ones whose
    message is also a training message, word for word."""
    from corpora import open_corpus
    from nlpsvc.chatbot.data import LengthLimits, make_pairs

    corpus = open_corpus(CORPUS)
    limits = LengthLimits(bot.max_src_len, bot.max_tgt_len)
    every = make_pairs(corpus.dialogs("test"), bot.tokenizer, limits,
                       context_turns=bot.context_turns)
    test = [(list(s), list(t)) for s, t in dict.fromkeys((tuple(s), tuple(t)) for s, t in every)]
    train_msgs = {tuple(s) for s, _ in make_pairs(corpus.dialogs("train"), bot.tokenizer,
                                                  limits, context_turns=bot.context_turns)}
    seen = sum(tuple(s) in train_msgs for s, _ in test) / len(test)
    return test, len(every), seen


def figures(bot: Any, pairs: list, beam: int) -> tuple[dict[str, Any], list[list[str]]]:
    from nlpsvc.chatbot.evaluate import bleu, distinct_n, repeat_rate
    from nlpsvc.chatbot.retrieval import content_f1, token_f1

    hyps, retrieved, t0 = [], 0, time.perf_counter()
    for src, _ in pairs:
        tokens, used, _ = bot.answer(src, beam)
        hyps.append(tokens)
        retrieved += used
    ms = (time.perf_counter() - t0) * 1000 / len(pairs)
    refs = [r for _, r in pairs]
    return {
        "repeated_word_rate": round(repeat_rate(hyps), 4),
        "distinct1": round(distinct_n(hyps, 1), 4),
        "distinct2": round(distinct_n(hyps, 2), 4),
        "avg_reply_len": round(sum(map(len, hyps)) / len(hyps), 2),
        "bleu4": round(bleu([" ".join(h) for h in hyps], [" ".join(r) for r in refs]), 2),
        "token_f1": round(sum(map(token_f1, hyps, refs)) / len(hyps), 4),
        "content_f1": round(sum(map(content_f1, hyps, refs)) / len(hyps), 4),
        "exact_match": round(sum(h == r for h, r in zip(hyps, refs, strict=True)) / len(hyps),
                             4),
        "fallback_rate": round(retrieved / len(hyps), 4),
        "distinct_replies": len({tuple(h) for h in hyps}),
        "ms_per_reply": round(ms, 1),
    }, hyps


def measure(label: str, models: Path) -> dict[str, Any]:
    from nlpsvc.artifacts import load_current
    from nlpsvc.chatbot import load_artifact

    art = load_current(models / "demo" / "chatbot")
    bot = load_artifact(art, threads=1)
    m = art.manifest
    pairs, every, seen = held_out(bot)
    out: dict[str, Any] = {
        "training_seconds": m["training_seconds"],
        "epochs": len(m["metrics"]["curves"]),
        "best_epoch": m["metrics"]["best_epoch"],
        "stopped": m["metrics"]["stopped"],
        "valid_perplexity": m["metrics"]["valid_perplexity"],
        "test_perplexity": m["metrics"]["perplexity"],
        "parameters": m["data"]["parameters"],
        "fallback_tuning": m["metrics"].get("fallback", {}),
        "config": {k: m["config"][k] for k in ("hidden_size", "embedding_dim", "num_layers",
                                                "dropout", "epochs", "max_minutes",
                                                "decode_no_repeat_word",
                                                "retrieval_fallback")},
        "test_pairs": len(pairs),
        "test_pairs_with_repeats": every,
        "train_pairs": m["data"]["train_pairs"],
        "test_messages_seen_in_train": round(seen, 4),
        "hello": {name: bot.reply(HELLO, beam=beam).text for name, beam in DECODINGS.items()},
    }
    step = max(1, len(pairs) // SAMPLES)
    picks = list(range(0, len(pairs), step))[:SAMPLES]
    out["decodings"] = {}
    for name, beam in DECODINGS.items():
        fig, hyps = figures(bot, pairs, beam)
        fig["samples"] = [" ".join(hyps[i]) for i in picks]
        out["decodings"][name] = fig
    out["sample_messages"] = [" ".join(pairs[i][0]) for i in picks]
    out["sample_references"] = [" ".join(pairs[i][1]) for i in picks]
    return out


def render(results: dict[str, Any]) -> str:
    variants = results["variants"]
    labels = list(variants)
    first = variants[labels[0]]
    lines = [
        f"`make run`'s chatbot, trained by `nlpsvc train corpora/demo --only chatbot` "
        f"{len(variants)} ways (their `--set` options below) and measured on the pipeline's "
        f"own held-out split: the {first['test_pairs']} "
        f"distinct `test` pairs of `dialogs.jsonl` (stable hash of the line, 5%; "
        f"{first['test_pairs_with_repeats']} with the repeated lines; "
        f"{first['test_messages_seen_in_train']:.0%} of the messages also occur, word for "
        "word, in train). The fallback's threshold is tuned on the `valid` 5%, never on test. "
        "Content F1 is token F1 over words that are not punctuation or English stop words (a "
        "generic \"i am not .\" shares \"i\" and \".\" with most references). One torch "
        "thread; training times are on a shared 2-core machine. Validation perplexity is over "
        "the deduplicated valid pairs where identical pairs are kept once, so it compares "
        "within those rows only.",
        "",
        table(["chatbot", "model", "train pairs", "epochs (best)", "training s", "valid ppl",
               "fallback threshold / min sim", "\"Hello, how are you?\" greedy", "beam 5"],
              [[label, f"{v['config']['num_layers']} x {v['config']['hidden_size']}, "
                       f"{v['parameters'] / 1e6:.2f}M params", v["train_pairs"],
                f"{v['epochs']} ({v['best_epoch']})", f"{v['training_seconds']:.0f}",
                f"{v['valid_perplexity']:.1f}",
                (f"{v['fallback_tuning']['threshold']:.3f} / "
                 f"{v['fallback_tuning']['min_similarity']:.1f}"
                 if v["fallback_tuning"].get("threshold") is not None else "off"),
                f"\"{v['hello']['greedy']}\"", f"\"{v['hello']['beam 5']}\""]
               for label, v in variants.items()]),
        "",
        table(["chatbot", "decoding", "word twice in a row", "distinct-1", "distinct-2",
               "mean length", "BLEU-4", "token F1", "content F1", "exact", "fallback rate",
               "ms / reply"],
              [[label, name, f"{f['repeated_word_rate']:.1%}", f"{f['distinct1']:.3f}",
                f"{f['distinct2']:.3f}", f"{f['avg_reply_len']:.1f}", f"{f['bleu4']:.1f}",
                f"{f['token_f1']:.3f}", f"{f['content_f1']:.3f}", f"{f['exact_match']:.1%}",
                f"{f['fallback_rate']:.0%}",
                f"{f['ms_per_reply']:.0f}"]
               for label, v in variants.items() for name, f in v["decodings"].items()]),
        "",
        "Options: " + "; ".join(f"{label}: " + (" ".join(f"`{o}`" for o in sets) or "none")
                                for label, sets in results["sets"].items()) + ".",
        "",
        "Ten held-out messages (evenly spaced), beam 5 (the /reply default):",
        "",
        table(["message", "reference", *labels],
              [[msg, ref, *(variants[lb]["decodings"]["beam 5"]["samples"][i] for lb in labels)]
               for i, (msg, ref) in enumerate(zip(first["sample_messages"],
                                                  first["sample_references"], strict=True))]),
    ]
    return "\n".join(lines)


def main() -> None:
    torch.set_num_threads(1)
    WORKDIR.mkdir(parents=True, exist_ok=True)
    variants = {}
    for label, sets in VARIANTS.items():
        models = train(label, sets)
        variants[label] = measure(label, models)
    publish("chatbot_demo", "Demo chatbot (make run): repetition blocking and retrieval fallback",
            {"variants": variants, "sets": VARIANTS}, render, "python -m bench.chatbot_demo")


if __name__ == "__main__":
    main()
