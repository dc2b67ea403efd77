"""Dialogue pairs and padded batches for the seq2seq chatbot.

A dialogue is a list of turns; consecutive turns give (prompt, reply) pairs. With
``context_turns > 0`` the prompt also carries that many earlier turns, joined by ``<sep>``.
Batches are made lazily, one at a time, from id lists (never all up front).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch

from nlpsvc.chatbot.vocab import EOS_ID, PAD_ID, SEP, SOS_ID, Vocab
from nlpsvc.textio import parse_dialog_line  # noqa: F401 - re-exported for the chatbot API

Pair = tuple[list[str], list[str]]  # (source tokens, target tokens)


@dataclass
class PairStats:
    """What reading dialogues kept and skipped (reported in the manifest)."""

    dialogs: int = 0
    pairs: int = 0
    empty_turns: int = 0  # turns with no tokens, skipped
    single_turn_dialogs: int = 0  # dialogues left with < 2 turns, skipped
    too_long: int = 0  # pairs dropped by the length limit (policy "drop")
    truncated: int = 0  # pairs cut to the length limit (policy "truncate")

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class LengthLimits:
    max_src_len: int = 40  # source tokens kept (the last ones: the end of a turn is the cue)
    max_tgt_len: int = 30  # reply tokens kept (the first ones), EOS not counted
    policy: str = "truncate"  # "truncate" long pairs, or "drop" them

    def __post_init__(self) -> None:
        if self.policy not in ("truncate", "drop"):
            raise ValueError(f"unknown length policy {self.policy!r}; expected truncate or drop")


def make_pairs(
    dialogs: Iterable[list[str]],
    tokenize: Callable[[str], list[str]],
    limits: LengthLimits,
    *,
    context_turns: int = 0,
    stats: PairStats | None = None,
) -> list[Pair]:
    """Consecutive-turn pairs from dialogues, counting what was skipped in ``stats``."""
    stats = stats if stats is not None else PairStats()
    pairs: list[Pair] = []
    for turns in dialogs:
        stats.dialogs += 1
        toks = [tokenize(t) for t in turns]
        kept = [t for t in toks if t]
        stats.empty_turns += len(toks) - len(kept)
        if len(kept) < 2:
            stats.single_turn_dialogs += 1
            continue
        for i in range(1, len(kept)):
            src = context_source(kept[max(0, i - 1 - context_turns): i])
            tgt = kept[i]
            if len(src) > limits.max_src_len or len(tgt) > limits.max_tgt_len:
                if limits.policy == "drop":
                    stats.too_long += 1
                    continue
                stats.truncated += 1
                src, tgt = src[-limits.max_src_len:], tgt[: limits.max_tgt_len]
            pairs.append((src, tgt))
    stats.pairs += len(pairs)
    return pairs


def context_source(turns: list[list[str]]) -> list[str]:
    """Earlier turns then the message, joined by ``<sep>``."""
    out: list[str] = []
    for t in turns:
        if out:
            out.append(SEP)
        out.extend(t)
    return out


@dataclass
class Batch:
    src: torch.Tensor  # (B, S) source ids, PAD-padded
    src_len: torch.Tensor  # (B,) true source lengths (CPU, int64) for packing
    tgt_in: torch.Tensor  # (B, T) <s> y1 .. y_{n}, PAD-padded
    tgt_out: torch.Tensor  # (B, T) y1 .. y_n </s>, PAD-padded
    ntokens: int = field(default=0)  # non-pad target tokens

    @property
    def mask(self) -> torch.Tensor:
        return self.tgt_out != PAD_ID  # (B, T)


def encode_pairs(pairs: list[Pair], vocab: Vocab) -> list[tuple[list[int], list[int]]]:
    return [(vocab.encode(s) or [PAD_ID], vocab.encode(t)) for s, t in pairs]


def collate(items: list[tuple[list[int], list[int]]]) -> Batch:
    """Pad a list of (source ids, target ids) into one Batch."""
    b = len(items)
    s_max = max(len(s) for s, _ in items)
    t_max = max(len(t) for _, t in items) + 1
    src = torch.full((b, s_max), PAD_ID, dtype=torch.long)
    tgt_in = torch.full((b, t_max), PAD_ID, dtype=torch.long)
    tgt_out = torch.full((b, t_max), PAD_ID, dtype=torch.long)
    for i, (s, t) in enumerate(items):
        src[i, : len(s)] = torch.tensor(s)
        tgt_in[i, : len(t) + 1] = torch.tensor([SOS_ID, *t])
        tgt_out[i, : len(t) + 1] = torch.tensor([*t, EOS_ID])
    src_len = torch.tensor([len(s) for s, _ in items], dtype=torch.long)
    ntokens = sum(len(t) + 1 for _, t in items)
    return Batch(src, src_len, tgt_in, tgt_out, ntokens)


def batches(
    data: list[tuple[list[int], list[int]]],
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    bucket: int = 50,
) -> Iterator[Batch]:
    """Batches in a seeded random order, or in data order when ``generator`` is None.

    When shuffling, pairs are drawn ``bucket`` batches at a time and sorted by length inside the
    bucket, so a batch holds pairs of similar length (less padding) yet the order stays random.
    """
    if generator is None:
        for i in range(0, len(data), batch_size):
            yield collate(data[i: i + batch_size])
        return
    order = torch.randperm(len(data), generator=generator).tolist()
    chunk = batch_size * bucket
    for c in range(0, len(order), chunk):
        idx = sorted(order[c: c + chunk], key=lambda j: (len(data[j][0]), len(data[j][1])))
        groups = [idx[i: i + batch_size] for i in range(0, len(idx), batch_size)]
        for g in torch.randperm(len(groups), generator=generator).tolist():
            yield collate([data[j] for j in groups[g]])
