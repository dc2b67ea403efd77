"""Held-out figures for the chatbot: perplexity, BLEU (sacrebleu), distinct-n, reply length.

Perplexity is teacher-forced: exp of the mean natural-log NLL over every reply token including
``</s>`` (``<unk>`` targets included), the usual definition for seq2seq dialogue models.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nlpsvc.chatbot.data import (
    LengthLimits,
    PairStats,
    batches,
    encode_pairs,
    make_pairs,
)
from nlpsvc.chatbot.model import Seq2Seq
from nlpsvc.chatbot.vocab import PAD_ID
from nlpsvc.textio import parse_dialog_line, read_lines


def masked_nll(
    log_probs: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, int]:
    """Summed loss over non-pad targets and their count. log_probs (B, T, V), target (B, T)."""
    flat = log_probs.reshape(-1, log_probs.size(-1))  # (B*T, V)
    tgt = target.reshape(-1)  # (B*T,)
    mask = tgt != PAD_ID
    nll = F.nll_loss(flat, tgt, ignore_index=PAD_ID, reduction="sum")
    if label_smoothing > 0:
        smooth = -(flat.mean(-1) * mask).sum()  # cross-entropy against the uniform distribution
        nll = (1 - label_smoothing) * nll + label_smoothing * smooth
    return nll, int(mask.sum())


@torch.no_grad()
def nll_total(
    model: Seq2Seq, data: list[tuple[list[int], list[int]]], batch_size: int = 128
) -> tuple[float, int]:
    """Summed NLL (nats) and token count over ``data``, teacher-forced, dropout off."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in batches(data, batch_size):
        log_probs = model(batch.src, batch.src_len, batch.tgt_in)
        loss, n = masked_nll(log_probs, batch.tgt_out)
        total += float(loss)
        count += n
    model.train(was_training)
    return total, count


def perplexity(
    model: Seq2Seq, data: list[tuple[list[int], list[int]]], batch_size: int = 128
) -> float:
    total, count = nll_total(model, data, batch_size)
    return math.exp(total / max(count, 1))


def distinct_n(replies: list[list[str]], n: int) -> float:
    """Unique n-grams / all n-grams over all replies (0 when there are none)."""
    grams = [tuple(r[i: i + n]) for r in replies for i in range(len(r) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repeat_rate(replies: list[list[str]]) -> float:
    """The fraction of replies holding the same token twice in a row (0 when there are none)."""
    hits = sum(any(a == b for a, b in zip(r, r[1:], strict=False)) for r in replies)
    return hits / len(replies) if replies else 0.0


def bleu(hypotheses: list[str], references: list[str], max_order: int = 4) -> float:
    """sacrebleu corpus BLEU on already-tokenised text (``tokenize='none'``), one reference."""
    from sacrebleu.metrics import BLEU

    # force: the text is tokenised on purpose (the protocol scores tokens as they are)
    metric = BLEU(tokenize="none", max_ngram_order=max_order, force=True)
    return float(metric.corpus_score(hypotheses, [references]).score)


def generation_metrics(
    sources: list[list[str]],
    references: list[list[str]],
    reply: Callable[[list[str]], list[str]],
    samples: int = 8,
) -> dict[str, Any]:
    """Generate a reply for each source (token lists) and score the replies against references."""
    hyps = [reply(src) for src in sources]
    hyp_text = [" ".join(h) for h in hyps]
    ref_text = [" ".join(r) for r in references]
    out: dict[str, Any] = {f"bleu{n}": round(bleu(hyp_text, ref_text, n), 3) for n in (1, 2, 3, 4)}
    out["bleu"] = out["bleu4"]
    out["distinct1"] = round(distinct_n(hyps, 1), 4)
    out["distinct2"] = round(distinct_n(hyps, 2), 4)
    out["avg_reply_len"] = round(sum(map(len, hyps)) / max(len(hyps), 1), 3)
    out["repeated_word_rate"] = round(repeat_rate(hyps), 4)
    out["avg_reference_len"] = round(sum(map(len, references)) / max(len(references), 1), 3)
    out["distinct_replies"] = len(set(hyp_text))
    out["replies"] = len(hyps)
    step = max(1, len(sources) // max(samples, 1))
    out["samples"] = [
        {"message": " ".join(sources[i]), "reply": hyp_text[i], "reference": ref_text[i]}
        for i in range(0, len(sources), step)
    ][:samples] if samples > 0 else []
    return out


def evaluate_file(bot: Any, path: Path, beam: int = 1) -> dict[str, Any]:
    """Perplexity, BLEU, distinct-n, reply length and fallback rate of ``bot`` (a ``Chatbot``)
    on a dialogue file, replying as it serves (``Chatbot.answer``); pairs are cut to the
    model's length limits as in training, bad lines counted."""
    name = path.name.lower().removesuffix(".gz")
    fmt = "tsv" if name.endswith(".tsv") else "jsonl" if name.endswith(".jsonl") else "dailydialog"
    dialogs, bad = [], 0
    for _, line in read_lines(path):  # compressed files too, bad bytes named by line
        if not line.strip():
            continue
        turns = parse_dialog_line(fmt, line)
        if turns is None:
            bad += 1
        else:
            dialogs.append(turns)
    stats = PairStats()
    pairs = make_pairs(dialogs, bot.tokenizer, LengthLimits(bot.max_src_len, bot.max_tgt_len),
                       context_turns=bot.context_turns, stats=stats)
    if not pairs:
        raise ValueError(f"{path}: no dialogue pairs (need lines with two or more turns)")
    retrieved = 0

    def reply(src: list[str]) -> list[str]:  # the served default: search, then the fallback
        nonlocal retrieved
        tokens, used, _ = bot.answer(src, beam)
        retrieved += used
        return tokens

    total, count = nll_total(bot.model, encode_pairs(pairs, bot.vocab))
    with torch.inference_mode():
        gen = generation_metrics([s for s, _ in pairs], [t for _, t in pairs], reply, samples=0)
    gen.pop("samples")
    return {"perplexity": math.exp(total / max(count, 1)), "tokens": count,
            "pairs": len(pairs), "bad_lines": bad, **stats.as_dict(), **gen,
            "fallback_rate": round(retrieved / len(pairs), 4)}
