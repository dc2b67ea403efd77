"""Searching the decoder for a reply: greedy, beam search, top-k / top-p sampling.

All three share the same constraints, applied to each step's log-probabilities before choosing:
``min_len`` (no ``</s>`` before it), ``no_repeat_ngram`` (an n-gram never repeats inside a reply)
and never emitting ``<pad>``, ``<s>``, ``<sep>`` or (unless allowed) ``<unk>``. Because of that,
beam search with width 1 takes exactly the greedy path.

Scores are log-probabilities (natural log) divided by ``length ** length_penalty`` (length counts
``</s>``), so a higher score is better and 0 is the maximum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from nlpsvc.chatbot.model import DecoderState, Memory, Seq2Seq
from nlpsvc.chatbot.vocab import EOS_ID, PAD_ID, SEP_ID, SOS_ID, UNK_ID


@dataclass
class Hypothesis:
    tokens: list[int]  # reply ids, without </s>
    log_prob: float  # sum of natural-log probabilities, </s> included when finished
    score: float  # log_prob / length ** length_penalty
    finished: bool = True  # ended with </s> (False: cut at max_len)
    # per reply token: attention weights over the source tokens (when asked for)
    attention: list[list[float]] = field(default_factory=list)


@dataclass
class Constraints:
    min_len: int = 1  # reply tokens before </s> is allowed
    max_len: int = 30  # reply tokens at most (</s> not counted)
    no_repeat_ngram: int = 0  # 0 = off; n: an n-gram appears at most once in a reply
    allow_unk: bool = False

    def __post_init__(self) -> None:
        if self.max_len < 1 or self.min_len < 0 or self.no_repeat_ngram < 0:
            raise ValueError("max_len must be >= 1, min_len and no_repeat_ngram >= 0")

    def apply(self, log_probs: Tensor, seqs: list[list[int]]) -> Tensor:
        """Mask forbidden next words to -inf. log_probs (K, V), one row per sequence in ``seqs``."""
        log_probs = log_probs.clone()
        banned = [PAD_ID, SOS_ID, SEP_ID] + ([] if self.allow_unk else [UNK_ID])
        log_probs[:, banned] = float("-inf")
        n = self.no_repeat_ngram
        for row, seq in enumerate(seqs):
            if len(seq) < self.min_len:
                log_probs[row, EOS_ID] = float("-inf")
            if n > 0 and len(seq) >= n - 1:
                prefix = tuple(seq[len(seq) - n + 1:]) if n > 1 else ()
                seen = [
                    seq[i + n - 1] for i in range(len(seq) - n + 1)
                    if tuple(seq[i: i + n - 1]) == prefix
                ]
                if seen:
                    log_probs[row, seen] = float("-inf")
        return log_probs


def encode_one(model: Seq2Seq, src_ids: list[int]) -> tuple[Memory, DecoderState]:
    """Encode one source (a list of ids; empty is allowed) as a batch of one."""
    ids = src_ids or [PAD_ID]
    src = torch.tensor([ids], dtype=torch.long)  # (1, S)
    return model.encode(src, torch.tensor([len(ids)]))


def _normalise(log_prob: float, length: int, alpha: float) -> float:
    return log_prob / (max(length, 1) ** alpha) if alpha else log_prob


@torch.inference_mode()
def greedy(
    model: Seq2Seq,
    src_ids: list[int],
    constraints: Constraints | None = None,
    *,
    length_penalty: float = 1.0,
    return_attention: bool = False,
) -> Hypothesis:
    """The most probable next word at every step."""
    c = constraints or Constraints()
    memory, state = encode_one(model, src_ids)
    y = torch.tensor([SOS_ID])
    seq: list[int] = []
    attn: list[list[float]] = []
    total = 0.0
    for _ in range(c.max_len):
        log_probs, state, weights = model.decoder.step(y, state, memory)
        lp, tok = c.apply(log_probs, [seq])[0].max(0)
        total += float(lp)
        if int(tok) == EOS_ID:
            norm = _normalise(total, len(seq) + 1, length_penalty)
            return Hypothesis(seq, total, norm, True, attn)
        seq.append(int(tok))
        if return_attention:
            attn.append(weights[0].tolist())
        y = tok.view(1)
    return Hypothesis(seq, total, _normalise(total, len(seq), length_penalty), False, attn)


@torch.inference_mode()
def beam_search(
    model: Seq2Seq,
    src_ids: list[int],
    beam: int = 5,
    n_best: int = 1,
    constraints: Constraints | None = None,
    *,
    length_penalty: float = 1.0,
    return_attention: bool = False,
) -> list[Hypothesis]:
    """Beam search; the ``n_best`` best distinct replies, best first.

    Keeps ``beam`` live hypotheses; one that emits ``</s>`` is set aside as finished. The search
    stops when ``beam`` hypotheses have finished or at ``max_len`` (live ones are then kept,
    marked unfinished). Final ranking uses the length-normalised score.
    """
    if beam < 1 or not 1 <= n_best <= beam:
        raise ValueError("need beam >= 1 and 1 <= n_best <= beam")
    c = constraints or Constraints()
    memory, state = encode_one(model, src_ids)
    seqs: list[list[int]] = [[]]
    attns: list[list[list[float]]] = [[]]
    scores = torch.zeros(1)  # (K,) running log-probabilities of live hypotheses
    finished: list[Hypothesis] = []
    y = torch.tensor([SOS_ID])
    for step in range(c.max_len):
        k = len(seqs)
        if k != memory.keys.size(0):  # (1, S, H) -> (K, S, H): one copy of the source per beam
            memory = memory.index_select(torch.zeros(k, dtype=torch.long))
        log_probs, state, weights = model.decoder.step(y, state, memory)
        log_probs = c.apply(log_probs, seqs)
        cand = (scores.unsqueeze(1) + log_probs).view(-1)  # (K, V) -> (K*V,)
        top_scores, top_idx = cand.topk(min(2 * beam, cand.numel()))
        vocab = log_probs.size(1)
        keep_rows, keep_toks, keep_scores = [], [], []
        for s, i in zip(top_scores.tolist(), top_idx.tolist(), strict=True):
            if s == float("-inf"):
                break
            row, tok = divmod(i, vocab)
            if tok == EOS_ID:
                a = attns[row] if return_attention else []
                norm = _normalise(s, len(seqs[row]) + 1, length_penalty)
                finished.append(Hypothesis(list(seqs[row]), s, norm, True, a))
                if len(finished) >= beam:
                    break
            else:
                keep_rows.append(row)
                keep_toks.append(tok)
                keep_scores.append(s)
                if len(keep_rows) == beam:
                    break
        if len(finished) >= beam or not keep_rows:
            break
        index = torch.tensor(keep_rows)
        state = state.index_select(index)
        if return_attention:
            w = weights.tolist()
            attns = [attns[r] + [w[r]] for r in keep_rows]
        seqs = [seqs[r] + [t] for r, t in zip(keep_rows, keep_toks, strict=True)]
        scores = torch.tensor(keep_scores)
        y = torch.tensor(keep_toks)
        if step == c.max_len - 1:  # out of room: keep the live ones, unfinished
            for i, (seq, s) in enumerate(zip(seqs, keep_scores, strict=True)):
                a = attns[i] if return_attention else []
                norm = _normalise(s, len(seq), length_penalty)
                finished.append(Hypothesis(seq, s, norm, False, a))
    return distinct_best(finished, n_best)


def distinct_best(hyps: list[Hypothesis], n: int) -> list[Hypothesis]:
    """The ``n`` best hypotheses by score, each token sequence once."""
    out: list[Hypothesis] = []
    seen: set[tuple[int, ...]] = set()
    for h in sorted(hyps, key=lambda h: h.score, reverse=True):
        key = tuple(h.tokens)
        if key not in seen:
            seen.add(key)
            out.append(h)
        if len(out) == n:
            break
    return out


def filter_logits(log_probs: Tensor, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Keep the ``top_k`` most probable words and the smallest set with mass >= ``top_p``.

    log_probs (K, V) -> (K, V) with the rest at -inf (not renormalised; sampling does that).
    """
    out = log_probs.clone()
    if top_k > 0 and top_k < out.size(-1):
        kth = out.topk(top_k, dim=-1).values[:, -1:]  # (K, 1)
        out[out < kth] = float("-inf")
    if top_p < 1.0:
        sorted_lp, order = out.sort(dim=-1, descending=True)
        cum = sorted_lp.softmax(-1).cumsum(-1)  # (K, V)
        drop = cum - sorted_lp.softmax(-1) >= top_p  # mass before this word already >= top_p
        sorted_lp[drop] = float("-inf")
        out = torch.full_like(out, float("-inf")).scatter(-1, order, sorted_lp)
    return out


@torch.inference_mode()
def sample(
    model: Seq2Seq,
    src_ids: list[int],
    n: int = 1,
    constraints: Constraints | None = None,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = None,
    length_penalty: float = 1.0,
    return_attention: bool = False,
) -> list[Hypothesis]:
    """Draw ``n`` replies at once; the same ``seed`` gives the same replies. Best (by the model's
    own log-probability, length-normalised) and distinct first."""
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    if not 0.0 < top_p <= 1.0 or top_k < 0 or n < 1:
        raise ValueError("need 0 < top_p <= 1, top_k >= 0, n >= 1")
    c = constraints or Constraints()
    gen = torch.Generator()
    if seed is not None:
        gen.manual_seed(seed)
    else:
        gen.seed()
    memory, state = encode_one(model, src_ids)
    rows = torch.zeros(n, dtype=torch.long)
    memory, state = memory.index_select(rows), state.index_select(rows)
    seqs: list[list[int]] = [[] for _ in range(n)]
    attns: list[list[list[float]]] = [[] for _ in range(n)]
    totals = [0.0] * n
    done = [False] * n
    y = torch.full((n,), SOS_ID, dtype=torch.long)
    for _ in range(c.max_len):
        log_probs, state, weights = model.decoder.step(y, state, memory)
        log_probs = c.apply(log_probs, seqs)
        scaled = filter_logits(log_probs / temperature, top_k, top_p)
        toks = torch.multinomial(scaled.softmax(-1), 1, generator=gen).squeeze(1)  # (n,)
        for i in range(n):
            if done[i]:
                continue
            tok = int(toks[i])
            totals[i] += float(log_probs[i, tok])
            if tok == EOS_ID:
                done[i] = True
            else:
                seqs[i].append(tok)
                if return_attention:
                    attns[i].append(weights[i].tolist())
        if all(done):
            break
        y = toks
    hyps = [
        Hypothesis(s, t, _normalise(t, len(s) + int(d), length_penalty), d, a)
        for s, t, d, a in zip(seqs, totals, done, attns, strict=True)
    ]
    return distinct_best(hyps, n)
