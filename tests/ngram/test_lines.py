"""``score_lines``: lines of whitespace-separated tokens scored as ``score_batch`` scores
their ``str.split`` tokens, bit for bit, whether the compiled reading takes them or Python
splits them."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest

from nlpsvc.ngram import NgramModel, train, wordids
from nlpsvc.ngram._wordidsjit import count_lines

# bytes and characters that trap a reading of whitespace: every ASCII whitespace byte, the
# control bytes that are not whitespace (0x01-0x08, 0x0E-0x1B), DEL, multi-byte characters
# and Unicode's whitespace (which only Python splits)
PIECES = ["the", "cat", "sat", "on", "a", "mat", "zebra", "extraordinarily", "x", "é", "日本",
          " ", " ", " ", " ", "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f",
          "\x01", "\x08", "\x0e", "\x1b", "\x7f", "\x80", "\x85", "\xa0", "\u2003", "\u3000",
          "\ud800", "!"]


@pytest.fixture(scope="module")
def lm() -> NgramModel:
    rng = random.Random(0)
    words = PIECES[:9] + ["\x01x", "\x1bq", "é"]
    sents = [[rng.choice(words) for _ in range(rng.randint(1, 12))] for _ in range(300)]
    return train(sents, order=3, discount_fallback=(0.5, 1, 1.5))


def encode(lines: list[str]) -> tuple[bytes, int] | None:
    return wordids.encode_lines(lines, np.empty(len(lines), dtype=np.int64))


def random_line(rng: random.Random) -> str:
    if rng.random() < 0.5:  # clean: one space between tokens (what the compiled path reads)
        return " ".join(rng.choice(PIECES[:10]) for _ in range(rng.randint(1, 9)))
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 14)))


@pytest.mark.parametrize("seed", range(4))
def test_lines_score_as_their_split_tokens(lm, seed):
    rng = random.Random(seed)
    for _ in range(40):
        lines = [random_line(rng) for _ in range(rng.randint(1, 30))]
        split = [s.split() for s in lines]
        assert lm.score_lines(lines) == lm.score_batch(split)
        assert lm.score_lines(lines, per_token=True) == lm.score_batch(split, per_token=True)
        assert lm.score_lines(lines, bos=False, eos=False) == lm.score_batch(
            split, bos=False, eos=False)
        clean = [s for s in lines if encode([s]) is not None]
        if clean:  # the compiled reading (a batch with one line it cannot take is split)
            assert encode(clean) is not None
            assert lm.score_lines(clean) == lm.score_batch([s.split() for s in clean])


def test_count_lines_takes_exactly_the_lines_it_can_read():
    """Taken (non-zero) only where every token ends at one whitespace byte or NUL; then the
    counts are ``str.split``'s, and it says whether a control byte (not whitespace) is in the
    text, where the kernel must tell the two apart."""
    rng = random.Random(7)
    taken = {1: 0, 2: 0}
    for _ in range(3000):
        lines = [random_line(rng) for _ in range(rng.randint(1, 6))]
        text = "\x00".join(lines)
        raw = text.encode("utf-8", "surrogatepass")
        lens = np.empty(len(lines), dtype=np.int64)
        unicode_space = any(c.isspace() and not c.isascii() for c in text)
        readable = "\x00" not in "".join(lines) and all(
            s.split() and " ".join(s.split()) == "".join(" " if c.isspace() else c for c in s)
            for s in lines)
        # Unicode's whitespace is left to Python before count_lines, which reads bytes only
        assert (encode(lines) is not None) == (readable and not unicode_space)
        if unicode_space:
            continue
        ws = count_lines(raw, lens)
        assert bool(ws) == readable, lines
        if ws:
            taken[ws] += 1
            assert lens.tolist() == [len(s.split()) for s in lines]
            control = any(b < 0x21 and not chr(b).isspace() and b for b in raw)
            assert ws == (2 if control else 1)  # every byte below 0x21 a separator: 1
    assert taken[1] > 300 and taken[2] > 30


def test_whitespace_sets_are_pythons():
    """The compiled reading's ASCII whitespace and the Unicode set left to Python are exactly
    ``str.isspace``'s (and so ``str.split``'s)."""
    ascii_ws = [b for b in range(128) if chr(b).isspace()]
    assert ascii_ws == [*range(0x09, 0x0E), *range(0x1C, 0x21)]
    others = [c for c in range(128, sys.maxunicode + 1) if chr(c).isspace()]
    assert [c for c in others if wordids._UNICODE_SPACE.match(chr(c))] == others
    assert not any(wordids._UNICODE_SPACE.match(chr(c)) for c in range(128, 0x3001)
                   if not chr(c).isspace())


def test_file_lines_at_scale_and_bad_input(lm):
    rng = random.Random(3)
    lines = [" ".join(rng.choice(PIECES[:10]) for _ in range(rng.randint(1, 40)))
             for _ in range(3000)]
    assert encode(lines) is not None  # the compiled reading is the one tested
    assert lm.score_lines(lines) == lm.score_batch([s.split() for s in lines])
    assert lm.score_lines(iter(lines[:5])) == lm.score_batch([s.split() for s in lines[:5]])
    marked = [s.replace("a", "a\x01").replace("t", "\x1bt") for s in lines]  # control bytes
    assert encode(marked)[1] == 2 and encode(lines)[1] == 1
    assert lm.score_lines(marked) == lm.score_batch([s.split() for s in marked])
    lines[300] = "two  spaces"  # that chunk is split in Python, the others are not
    assert encode(lines[:256]) is not None
    assert lm.score_lines(lines) == lm.score_batch([s.split() for s in lines])
    assert lm.score_lines([]) == []
    with pytest.raises(TypeError, match="score_lines expects strings"):
        lm.score_lines([["a", "b"]])
    with pytest.raises(TypeError, match="score_lines expects strings"):
        lm.score_lines(["a b", 3])
    with pytest.raises(TypeError, match="not one string"):
        lm.score_lines("a b c")  # not its characters as lines


def test_batches_in_chunks_score_as_sentences_alone(lm):
    """A batch goes to the kernel CHUNK sentences at a time; every figure, per token too, is
    the one of the sentence scored alone (empty sentences and a dict-path chunk included)."""
    rng = random.Random(5)
    sents = [[rng.choice(PIECES[:10]) for _ in range(rng.randint(0, 9))] for _ in range(700)]
    sents[400] = ["a", "b\x00c"]  # NUL in a token: that chunk goes to the dict
    for per_token in (False, True):
        alone = [lm.score(s, per_token=per_token) for s in sents]
        assert lm.score_batch(sents, per_token=per_token) == alone
