"""Searching the decoder for a reply: greedy, beam search, top-k / top-p sampling.

All three share the same constraints, applied to each step's log-probabilities before choosing:
``min_len`` (no ``</s>`` before it), ``no_repeat_ngram`` (an n-gram never repeats inside a reply),
``no_repeat_word`` (never the same word twice in a row: an undertrained decoder's likeliest
mistake, "i am am .", which ``no_repeat_ngram`` below 2 does not catch) and never emitting
``<pad>``, ``<s>``, ``<sep>`` or (unless allowed) ``<unk>``. Because of that, beam search with
width 1 takes exactly the greedy path.

Scores are log-probabilities (natural log) divided by ``length ** length_penalty`` (length counts
``</s>``), so a higher score is better and 0 is the maximum.

Greedy and beam search can also rank by the anti-LM (MMI-antiLM) objective of Li et al. 2016,
"A Diversity-Promoting Objective Function for Neural Conversation Models":
``log p(T|S) - lam * sum_{t < gamma} log p(t_t | t_<t)``. Maximum likelihood favours replies
that are probable whatever the message ("i m not sure ."); subtracting the language model's
log-probability of the first ``gamma`` words penalises exactly those. ``p(T)`` is our own
decoder run on an empty source (one padding position, so the context carries no message), which
costs no second model. Only the first words are penalised because later words of a reply depend
mostly on its own prefix, and penalising them yields ungrammatical text (the paper's
observation). ``lam = 0`` is plain maximum likelihood, step for step. ``Hypothesis.log_prob``
stays the model's ``log p(T|S)``; ``score`` is the length-normalised objective that was searched.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
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
class AntiLM:
    """The MMI-antiLM penalty: ``weight`` (lambda) times the unconditional log-probability of
    each of the first ``steps`` (gamma) reply words (``</s>`` included) is subtracted."""

    weight: float = 0.0
    steps: int = 0

    def __post_init__(self) -> None:
        if self.weight < 0 or self.steps < 0:
            raise ValueError("anti-LM weight and steps must be >= 0")

    @property
    def active(self) -> bool:
        return self.weight > 0 and self.steps > 0


_EMPTY: weakref.WeakKeyDictionary[Seq2Seq, tuple[tuple[int, ...], Memory, DecoderState]] = (
    weakref.WeakKeyDictionary())


def _empty_source(model: Seq2Seq) -> tuple[Memory, DecoderState]:
    """``encode_one(model, [])``, cached per model: the same for every message, and on a CPU the
    encoder's weights make even a one-token source cost about as much as a 15-word one. The key
    holds the parameters' in-place version counters and the train/eval mode, so the cache is
    recomputed after any change to the weights (an optimiser step, ``load_state_dict``)."""
    key = (int(model.training), *(p._version for p in model.parameters()))
    hit = _EMPTY.get(model)
    if hit is None or hit[0] != key:
        hit = (key, *encode_one(model, []))
        _EMPTY[model] = hit
    return hit[1], hit[2]


class _Unconditional:
    """The decoder on an empty source (``p(T)``), stepped in the same decoder call as the real
    search: its rows join the batch, its one-position memory padded (masked) to the source
    length, so the penalty costs no extra call per step on a CPU, only wider matrices."""

    def __init__(self, model: Seq2Seq, anti: AntiLM, memory: Memory) -> None:
        self.model, self.anti = model, anti
        empty, self.state = _empty_source(model)
        pad = memory.keys.size(1) - 1  # positions added after the single (padding) token
        self.memory = Memory(F.pad(empty.keys, (0, 0, 0, pad)),
                             F.pad(empty.mask, (0, pad), value=False),
                             F.pad(empty.prepared, (0, 0, 0, pad)))
        self.joint: Memory | None = None  # source and empty memories, stacked, for K rows each

    def step(
        self, y: Tensor, state: DecoderState, memory: Memory, step: int,
        constraints: Constraints, seqs: list[list[int]],
    ) -> tuple[Tensor, Tensor, DecoderState, Tensor]:
        """One decoder step for the K rows of ``y``: (objective (K, V), constrained
        log p(.|S) (K, V), new state, attention (K, S)). The objective subtracts ``weight *
        log p_lm`` while ``step < steps``; afterwards the LM no longer runs."""
        if step >= self.anti.steps:
            log_probs, state, weights = self.model.decoder.step(y, state, memory)
            log_probs = constraints.apply(log_probs, seqs)
            return log_probs, log_probs, state, weights
        k = y.size(0)
        if self.joint is None or self.joint.keys.size(0) != 2 * k:
            rows = torch.zeros(k, dtype=torch.long)
            self.joint = Memory(*(torch.cat([m, e.index_select(0, rows)])
                                  for m, e in zip(memory, self.memory, strict=True)))
        lm_state = self.state  # K rows: ``reorder`` follows the beam
        joint = DecoderState(torch.cat([state.h, lm_state.h], 1),
                             torch.cat([state.c, lm_state.c], 1),
                             torch.cat([state.feed, lm_state.feed]))
        out, new, weights = self.model.decoder.step(torch.cat([y, y]), joint, self.joint)
        self.state = DecoderState(new.h[:, k:], new.c[:, k:], new.feed[k:])
        log_probs = constraints.apply(out[:k], seqs)
        return (log_probs - self.anti.weight * out[k:], log_probs,
                DecoderState(new.h[:, :k], new.c[:, :k], new.feed[:k]), weights[:k])

    def reorder(self, rows: Tensor, step: int) -> None:
        """Follow the beam: keep the LM states of the surviving rows."""
        if step + 1 < self.anti.steps:
            self.state = self.state.index_select(rows)


@dataclass
class Constraints:
    min_len: int = 1  # reply tokens before </s> is allowed
    max_len: int = 30  # reply tokens at most (</s> not counted)
    no_repeat_ngram: int = 0  # 0 = off; n: an n-gram appears at most once in a reply
    no_repeat_word: bool = True  # the previous word is never the next one
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
            if self.no_repeat_word and seq:
                log_probs[row, seq[-1]] = float("-inf")
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
    anti_lm: AntiLM | None = None,
) -> Hypothesis:
    """The best next word at every step (most probable, or by the anti-LM objective)."""
    c = constraints or Constraints()
    memory, state = encode_one(model, src_ids)
    lm = (_Unconditional(model, anti_lm, memory)
          if anti_lm is not None and anti_lm.active else None)
    y = torch.tensor([SOS_ID])
    seq: list[int] = []
    attn: list[list[float]] = []
    total = objective = 0.0
    for step in range(c.max_len):
        if lm is not None:
            ranked, log_probs, state, weights = lm.step(y, state, memory, step, c, [seq])
        else:
            log_probs, state, weights = model.decoder.step(y, state, memory)
            ranked = log_probs = c.apply(log_probs, [seq])
        best, tok = ranked[0].max(0)
        total += float(log_probs[0, tok])
        objective += float(best)
        if int(tok) == EOS_ID:
            norm = _normalise(objective, len(seq) + 1, length_penalty)
            return Hypothesis(seq, total, norm, True, attn)
        seq.append(int(tok))
        if return_attention:
            attn.append(weights[0].tolist())
        y = tok.view(1)
    return Hypothesis(seq, total, _normalise(objective, len(seq), length_penalty), False, attn)


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
    anti_lm: AntiLM | None = None,
) -> list[Hypothesis]:
    """Beam search; the ``n_best`` best distinct replies, best first.

    Keeps ``beam`` live hypotheses; one that emits ``</s>`` is set aside as finished. The search
    stops when ``beam`` hypotheses have finished or at ``max_len`` (live ones are then kept,
    marked unfinished). Hypotheses are ranked by the summed objective (the log-probability, less
    the anti-LM penalty when given); the final ranking length-normalises it.
    """
    if beam < 1 or not 1 <= n_best <= beam:
        raise ValueError("need beam >= 1 and 1 <= n_best <= beam")
    c = constraints or Constraints()
    memory, state = encode_one(model, src_ids)
    lm = (_Unconditional(model, anti_lm, memory)
          if anti_lm is not None and anti_lm.active else None)
    seqs: list[list[int]] = [[]]
    attns: list[list[list[float]]] = [[]]
    scores = torch.zeros(1)  # (K,) running objective of live hypotheses
    logps = [0.0]  # running log p(T|S) of live hypotheses
    finished: list[Hypothesis] = []
    y = torch.tensor([SOS_ID])
    for step in range(c.max_len):
        k = len(seqs)
        if k != memory.keys.size(0):  # (1, S, H) -> (K, S, H): one copy of the source per beam
            memory = memory.index_select(torch.zeros(k, dtype=torch.long))
        if lm is not None:
            ranked, log_probs, state, weights = lm.step(y, state, memory, step, c, seqs)
        else:
            log_probs, state, weights = model.decoder.step(y, state, memory)
            ranked = log_probs = c.apply(log_probs, seqs)
        cand = (scores.unsqueeze(1) + ranked).view(-1)  # (K, V) -> (K*V,)
        top_scores, top_idx = cand.topk(min(2 * beam, cand.numel()))
        vocab = log_probs.size(1)
        keep_rows, keep_toks, keep_scores, keep_logps = [], [], [], []
        for s, i in zip(top_scores.tolist(), top_idx.tolist(), strict=True):
            if s == float("-inf"):
                break
            row, tok = divmod(i, vocab)
            lp = logps[row] + float(log_probs[row, tok])
            if tok == EOS_ID:
                a = attns[row] if return_attention else []
                norm = _normalise(s, len(seqs[row]) + 1, length_penalty)
                finished.append(Hypothesis(list(seqs[row]), lp, norm, True, a))
                if len(finished) >= beam:
                    break
            else:
                keep_rows.append(row)
                keep_toks.append(tok)
                keep_scores.append(s)
                keep_logps.append(lp)
                if len(keep_rows) == beam:
                    break
        if len(finished) >= beam or not keep_rows:
            break
        index = torch.tensor(keep_rows)
        state = state.index_select(index)
        if lm is not None:
            lm.reorder(index, step)
        if return_attention:
            w = weights.tolist()
            attns = [attns[r] + [w[r]] for r in keep_rows]
        seqs = [seqs[r] + [t] for r, t in zip(keep_rows, keep_toks, strict=True)]
        scores = torch.tensor(keep_scores)
        logps = keep_logps
        y = torch.tensor(keep_toks)
        if step == c.max_len - 1:  # out of room: keep the live ones, unfinished
            for i, (seq, s) in enumerate(zip(seqs, keep_scores, strict=True)):
                a = attns[i] if return_attention else []
                norm = _normalise(s, len(seq), length_penalty)
                finished.append(Hypothesis(seq, keep_logps[i], norm, False, a))
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
    The most probable word is always kept: a ``top_p`` below float32's smallest number rounds
    to 0 in the comparison and would otherwise drop every word (NaN probabilities).
    """
    out = log_probs.clone()
    if top_k > 0 and top_k < out.size(-1):
        kth = out.topk(top_k, dim=-1).values[:, -1:]  # (K, 1)
        out[out < kth] = float("-inf")
    if top_p < 1.0:
        sorted_lp, order = out.sort(dim=-1, descending=True)
        probs = sorted_lp.softmax(-1)
        drop = probs.cumsum(-1) - probs >= top_p  # mass before this word already >= top_p
        drop[:, 0] = False
        sorted_lp[drop] = float("-inf")
        out = torch.full_like(out, float("-inf")).scatter(-1, order, sorted_lp)
    return out


def _tempered(log_probs: Tensor, temperature: float) -> Tensor:
    """``log_probs / temperature`` shifted so each row's best word is at 0.

    Softmax does not change under the shift, but a tiny temperature no longer overflows every
    word to -inf (NaN probabilities): the best word stays finite and the sample is greedy.
    A temperature below the dtype's smallest normal number is raised to it (it would round to
    0, and 0/0 is NaN); the draw is greedy either way.
    """
    best = log_probs.max(dim=-1, keepdim=True).values
    return (log_probs - best) / max(temperature, torch.finfo(log_probs.dtype).tiny)


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
        scaled = filter_logits(_tempered(log_probs, temperature), top_k, top_p)
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
