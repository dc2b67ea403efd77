"""Vocabulary, dialogue pairs, bad input and batches."""

from __future__ import annotations

import pytest
import torch

from nlpsvc.chatbot.data import (
    LengthLimits,
    PairStats,
    batches,
    collate,
    encode_pairs,
    make_pairs,
    parse_dialog_line,
)
from nlpsvc.chatbot.vocab import EOS_ID, PAD_ID, SEP, SOS_ID, UNK_ID, Vocab, VocabularyError


def test_vocab_min_count_and_unk() -> None:
    v = Vocab.build([["a", "b", "a"], ["a", "c", "b"]], min_count=2, min_words=1)
    assert v.itos[5:] == ["a", "b"]  # most frequent first
    assert v.encode(["a", "c", "zzz"]) == [5, UNK_ID, UNK_ID]
    assert Vocab.from_dict(v.to_dict()).itos == v.itos


def test_corpus_too_small_is_a_clear_error() -> None:
    with pytest.raises(VocabularyError, match="corpus too small"):
        Vocab.build([["hello", "there"], ["hello"]], min_count=2, min_words=10)


def test_empty_turns_and_single_turn_dialogues_are_skipped_and_counted(tokenizer) -> None:
    dialogs = [
        ["Hi there!", "", "Hello.", "How are you?"],  # one empty turn
        ["Only one turn."],  # single-turn
        ["  ", "Lonely."],  # one empty turn, then single-turn
        ["A?", "B."],
    ]
    stats = PairStats()
    pairs = make_pairs(dialogs, tokenizer, LengthLimits(), stats=stats)
    assert pairs == [
        (["hi", "there", "!"], ["hello", "."]),
        (["hello", "."], ["how", "are", "you", "?"]),
        (["a", "?"], ["b", "."]),
    ]
    counts = (stats.dialogs, stats.empty_turns, stats.single_turn_dialogs, stats.pairs)
    assert counts == (4, 2, 2, 3)


def test_length_limits_truncate_or_drop(tokenizer) -> None:
    dialogs = [["one two three four five", "six seven eight nine"]]
    stats = PairStats()
    cut = make_pairs(dialogs, tokenizer, LengthLimits(3, 2, "truncate"), stats=stats)
    assert cut == [(["three", "four", "five"], ["six", "seven"])] and stats.truncated == 1
    stats = PairStats()
    assert make_pairs(dialogs, tokenizer, LengthLimits(3, 2, "drop"), stats=stats) == []
    assert stats.too_long == 1


def test_context_turns_join_with_sep(tokenizer) -> None:
    pairs = make_pairs([["a", "b", "c"]], tokenizer, LengthLimits(), context_turns=1)
    assert pairs == [(["a"], ["b"]), (["a", SEP, "b"], ["c"])]


def test_parse_dialog_line_formats() -> None:
    assert parse_dialog_line("dailydialog", "Hi . __eou__ Hello ! __eou__") == ["Hi .", "Hello !"]
    assert parse_dialog_line("tsv", "hi\thello") == ["hi", "hello"]
    assert parse_dialog_line("tsv", "no tab") is None
    assert parse_dialog_line("jsonl", '{"turns": ["a", ""]}') == ["a", ""]
    assert parse_dialog_line("jsonl", '{"turns": "a"}') is None
    assert parse_dialog_line("jsonl", "{broken") is None


def test_collate_pads_and_shifts_targets() -> None:
    b = collate([([5, 6, 7], [8]), ([5], [9, 10])])
    assert b.src.tolist() == [[5, 6, 7], [5, PAD_ID, PAD_ID]]
    assert b.src_len.tolist() == [3, 1]
    assert b.tgt_in.tolist() == [[SOS_ID, 8, PAD_ID], [SOS_ID, 9, 10]]
    assert b.tgt_out.tolist() == [[8, EOS_ID, PAD_ID], [9, 10, EOS_ID]]
    assert b.ntokens == 5 and int(b.mask.sum()) == 5


def test_batches_cover_every_pair_once_in_a_seeded_order(real_pairs) -> None:
    vocab = Vocab.build((s for p in real_pairs for s in p), min_count=1)
    data = encode_pairs(real_pairs, vocab)

    def seen(seed: int) -> list[int]:
        out = []
        for b in batches(data, 16, generator=torch.Generator().manual_seed(seed)):
            out += [int(n) for n in b.tgt_out.ne(PAD_ID).sum(1)]
        return out

    assert sum(seen(1)) == sum(len(t) + 1 for _, t in data)
    assert seen(1) == seen(1) and seen(1) != seen(2)
