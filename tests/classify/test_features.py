"""n-gram hashing is FNV-1a, identical in every process (no salted ``hash()``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from nlpsvc.classify.features import Featurizer, fnv1a_32
from nlpsvc.text import TextConfig

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["What is the capital of France ?", "", "naïve café über straße", "a b a b a b",
         "x" * 300 + " y"]
SNIPPET = """
import json
from nlpsvc.classify.features import Featurizer, fnv1a_32
from nlpsvc.text import TextConfig
f = Featurizer(TextConfig(), word_ngrams=3, buckets=1000, vocab=["what", "is", "a"])
b = f.transform({texts!r})
print(json.dumps({{"ids": b.ids.tolist(), "offsets": b.offsets.tolist(),
                  "h": fnv1a_32(["hello", "naïve"]).tolist()}}))
"""


def reference_fnv1a(word: str) -> int:
    h = 2166136261
    for byte in word.encode("utf-8"):
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def test_fnv1a_matches_the_published_vectors_and_a_plain_loop() -> None:
    # FNV-1a 32-bit test vectors (Fowler/Noll/Vo): "" -> 811c9dc5, "a" -> e40c292c
    assert fnv1a_32(["", "a", "foobar"]).tolist() == [0x811C9DC5, 0xE40C292C, 0xBF9CF968]
    words = ["hello", "naïve", "straße", "x" * 257, "ab", "b"]
    assert fnv1a_32(words).tolist() == [reference_fnv1a(w) for w in words]


def test_fnv1a_hashes_lone_surrogates_without_error() -> None:
    """Issue 14: JSON may carry a lone surrogate ("\\ud800"); UTF-8 cannot encode it, so it
    hashes its surrogate-pass bytes (ED A0 80), distinct from every real character."""
    h = 2166136261
    for byte in b"\xed\xa0\x80":
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    assert fnv1a_32(["\ud800", "ok"]).tolist() == [h, reference_fnv1a("ok")]
    bags = Featurizer(TextConfig(), word_ngrams=2, buckets=100, vocab=["a"]).transform(
        ["a \ud800 b", "\udfff"])
    assert len(bags.offsets) == 2


def test_hashing_is_identical_across_processes() -> None:
    here = Featurizer(TextConfig(), word_ngrams=3, buckets=1000, vocab=["what", "is", "a"])
    bags = here.transform(TEXTS)
    mine = {"ids": bags.ids.tolist(), "offsets": bags.offsets.tolist(),
            "h": fnv1a_32(["hello", "naïve"]).tolist()}
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", SNIPPET.format(texts=TEXTS)], env=env,
                             capture_output=True, text=True, check=True, cwd=ROOT)
        assert json.loads(out.stdout) == mine


def test_bags_hold_words_and_ngrams_within_each_text() -> None:
    f = Featurizer(TextConfig(), word_ngrams=2, buckets=50, vocab=["a", "b"])
    bags = f.transform(["a b", "", "c", "a c b"])
    assert bags.lengths.tolist() == [3, 0, 0, 4]  # OOV "c" has no row; its bigrams hash
    assert bags.empty.tolist() == [False, True, False, False]
    first = bags.ids[: bags.lengths[0]]
    assert sorted(first[:2].tolist()) == [0, 1] and 2 <= first[2] < 52
    # no bigram crosses a text boundary: "b" + "c" (texts 0 and 2) never appears
    again = f.transform(["a b", "c"])
    assert again.lengths.tolist() == [3, 0]
    taken = bags.take(np.array([3, 0]))
    assert taken.lengths.tolist() == [4, 3]
    assert taken.ids.tolist() == bags.ids[3:].tolist() + bags.ids[:3].tolist()
