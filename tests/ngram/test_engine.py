"""Counting, the query model, persistence and ARPA I/O, checked against naive Python oracles
(``Counter`` over windows; a dict-and-recursion ARPA backoff query) and exact properties."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpsvc.artifacts import ArtifactWriter, verify
from nlpsvc.ngram import (
    MODEL_DIR,
    ArpaError,
    BackoffTables,
    NgramModel,
    count_ngrams,
    load_artifact,
    read_arpa,
    train,
    write_arpa,
)
from nlpsvc.ngram.vocab import Vocabulary

WORDS = ["a", "b", "c", "d", "e"]
corpora = st.lists(st.lists(st.sampled_from(WORDS), min_size=0, max_size=8), min_size=1,
                   max_size=12).filter(lambda c: any(c))


def brute_counts(sents, order, bos=True, eos=True):
    c: Counter = Counter()
    for s in sents:
        toks = (["<s>"] if bos else []) + list(s) + (["</s>"] if eos else [])
        for o in range(1, order + 1):
            for i in range(len(toks) - o + 1):
                c[tuple(toks[i : i + o])] += 1
    return c


def as_dict(counts):
    out = {}
    for o in range(counts.order):
        for row, n in zip(counts.grams[o].tolist(), counts.counts[o].tolist(), strict=True):
            if n:
                out[tuple(counts.vocab.words[i] for i in row)] = n
    return out


# ------------------------------------------------------------------ vocabulary and counting
def test_vocabulary_specials_and_literal_unk():
    v = Vocabulary.from_counts({"x": 3, "y": 1, "<unk>": 5, "z": 3}, min_count=2)
    assert v.words == ["<unk>", "<s>", "</s>", "x", "z"]
    assert v.ids(["x", "y", "<unk>", "z"]).tolist() == [3, 0, 0, 4]
    assert Vocabulary.from_counts({"p": 1, "q": 5, "r": 5}, max_size=2).words[3:] == ["q", "r"]
    with pytest.raises(ValueError):
        Vocabulary.from_counts({}, min_count=0)


@settings(max_examples=40, deadline=None)
@given(corpora, st.integers(1, 6), st.booleans())
def test_counts_equal_brute_force(sents, order, padded):
    c = count_ngrams(sents, order, bos=padded, eos=padded)
    assert as_dict(c) == brute_counts(sents, order, padded, padded)
    for g in c.grams[1:]:  # unique rows, sorted lexicographically
        assert [tuple(r) for r in g.tolist()] == sorted({tuple(r) for r in g.tolist()})
    chunked = count_ngrams(sents, order, bos=padded, eos=padded, chunk_tokens=3)
    assert as_dict(chunked) == as_dict(c)
    assert all((a == b).all() for a, b in zip(chunked.grams, c.grams, strict=True))


def test_literal_unk_is_the_unknown_class_and_markers_are_dropped():
    c = count_ngrams([["x", "<unk>", "y", "<s>", "</s>"], ["zz"]], 2, vocab=["x", "y"])
    d = as_dict(c)
    assert d[("<unk>",)] == 2  # the literal <unk> and the unknown "zz"
    assert d[("x", "<unk>")] == 1 and d[("<unk>", "y")] == 1
    assert d[("y", "</s>")] == 1  # the literal markers inside the text were dropped
    assert c.tokens == 4 and c.sentences == 2


def test_min_count_needs_a_restartable_corpus():
    sents = [["a", "b"], ["a"]]
    c = count_ngrams(sents, 2, min_count=2)
    assert c.vocab.words[3:] == ["a"]
    assert as_dict(c)[("<s>", "a")] == 2 and as_dict(c)[("a", "<unk>")] == 1
    with pytest.raises(ValueError, match="restartable"):
        count_ngrams((s for s in sents), 2, min_count=2)


@pytest.mark.parametrize(
    "kwargs,sents,match",
    [
        ({"order": 0}, [["a"]], "order"),
        ({"order": 2}, [], "empty corpus"),
        ({"order": 2}, [[], []], "no non-empty sentence"),
        ({"order": 2, "prune": [1, 1]}, [["a"]], "unigram"),
        ({"order": 3, "prune": [0, 2, 1]}, [["a"]], "non-decreasing"),
    ],
)
def test_counting_bad_input(kwargs, sents, match):
    with pytest.raises(ValueError, match=match):
        count_ngrams(sents, **kwargs)
    with pytest.raises(TypeError):
        count_ngrams(["a string, not tokens"], 2)


def test_count_pruning_drops_rare_ngrams():
    sents = [["a", "b", "c"], ["a", "b", "d"], ["a", "b", "c"]]
    c = count_ngrams(sents, 3, prune=[0, 0, 1])
    d = as_dict(c)
    assert ("a", "b", "c") in d and ("a", "b", "d") not in d and ("b", "d") in d


# ------------------------------------------------------------------ query model vs naive ARPA
def naive_logprob(t: BackoffTables, word: str, context: list[str]) -> tuple[float, int]:
    """ARPA backoff by the textbook recursion over dicts (independent of NgramModel)."""
    ids = {w: i for i, w in enumerate(t.vocab)}
    table = {}
    for o in range(t.order):
        for row, p, b in zip(t.grams[o].tolist(), t.logprob[o].tolist(), t.backoff[o].tolist(),
                             strict=True):
            table[tuple(row)] = (p, b)
    h = [ids.get(w, 0) for w in context][-(t.order - 1):] if t.order > 1 else []
    w = ids.get(word, 0)

    def rec(h):
        if (*h, w) in table:
            return table[(*h, w)][0], len(h) + 1
        ctx = table.get(tuple(h))
        bo = ctx[1] if ctx is not None else t.missing_backoff
        p, n = rec(h[1:])
        return bo + p, n

    return rec(h)


@pytest.mark.parametrize("smoothing", ["mkn", "kn", "absolute"])
def test_scores_equal_naive_backoff_query(smoothing):
    rng = random.Random(7)
    sents = [[rng.choice(WORDS[:4]) for _ in range(rng.randint(1, 9))] for _ in range(60)]
    counts = count_ngrams(sents, 4)
    from nlpsvc.ngram.estimators import get_estimator

    fallback = (0.5, 1, 1.5) if smoothing == "mkn" else 0.5
    tables = get_estimator(smoothing, discount_fallback=fallback).fit(counts)
    lm = NgramModel.from_tables(tables)
    # the model stores float32 (as KenLM): its scores are the tables' rounded to float32, to
    # 1e-12 as before against those; the rounding itself is exact (float32 of each value)
    stored = lm.to_tables()
    for o in range(tables.order):
        assert np.array_equal(np.sort(stored.logprob[o]),
                              np.sort(tables.logprob[o].astype(np.float32)))
        assert np.array_equal(np.sort(stored.backoff[o]),
                              np.sort(tables.backoff[o].astype(np.float32)))
    tables = stored
    probe = [[rng.choice(WORDS) for _ in range(rng.randint(0, 7))] for _ in range(30)]
    batch = lm.score_batch(probe, per_token=True)
    for s, res in zip(probe, batch, strict=True):
        toks = [*s, "</s>"]
        total = 0.0
        for i, tok in enumerate(toks):
            p, n = naive_logprob(tables, tok, ["<s>", *toks[:i]])
            ts = res.per_token[i]
            assert ts.log10_prob == pytest.approx(p, abs=1e-12)
            assert ts.ngram_order == n and ts.oov == (tok not in WORDS[:4] + ["</s>"])
            total += p
        assert res.log10_prob == pytest.approx(total, abs=1e-9)
        assert res.tokens == len(toks)
        single = lm.score(s)
        assert single.log10_prob == pytest.approx(res.log10_prob, abs=1e-12)
        assert lm.logprob(toks[-1], ["<s>", *s]) == pytest.approx(res.per_token[-1].log10_prob)
    # bos=False / eos=False: no <s> context, no </s> token
    r = lm.score(["a", "b"], bos=False, eos=False, per_token=True)
    assert r.tokens == 2
    assert r.per_token[0].log10_prob == pytest.approx(naive_logprob(tables, "a", [])[0])


@pytest.mark.parametrize("smoothing", ["mkn", "mle", "stupid_backoff", "katz", "witten_bell"])
@pytest.mark.parametrize("order", [1, 2, 4])
def test_single_query_logprob_equals_batch_scoring(smoothing, order, tmp_path):
    """``logprob`` (one query) and ``score_batch`` agree at every position,
    -inf (MLE after an unseen context) and a memory-mapped model included."""
    rng = random.Random(order)
    sents = [[rng.choice(WORDS[:4]) for _ in range(rng.randint(1, 7))] for _ in range(40)]
    params = {"discount_fallback": (0.5, 1, 1.5)} if smoothing == "mkn" else {}
    lm = train(sents, order=order, smoothing=smoothing, **params)
    lm.save(tmp_path / "m")
    mapped = NgramModel.load(tmp_path / "m", mmap=True)
    probe = [[rng.choice(WORDS) for _ in range(rng.randint(0, 8))] for _ in range(25)]
    n_inf = 0
    for s, res in zip(probe, lm.score_batch(probe, per_token=True), strict=True):
        toks = ["<s>", *s, "</s>"]
        for i, ts in enumerate(res.per_token, 1):
            for model in (lm, mapped):
                got = model.logprob(toks[i], toks[:i])
                assert got == ts.log10_prob or got == pytest.approx(ts.log10_prob, abs=1e-12)
            n_inf += ts.log10_prob == float("-inf")
    long = ["zz", "b", "a", "c", "d"]  # only the last order-1 words count
    assert lm.logprob("a", long) == lm.logprob("a", long[len(long) - order + 1:])
    if smoothing == "mle" and order > 1:
        assert n_inf > 0  # the -inf paths were exercised


@settings(max_examples=25, deadline=None)
@given(corpora, st.integers(1, 4), st.sampled_from(["mkn", "kn", "absolute"]),
       st.sampled_from([None, [0, 1]]))
def test_distributions_sum_to_one(sents, order, smoothing, prune):
    params = {"discount_fallback": (0.5, 1.0, 1.5) if smoothing == "mkn" else 0.7}
    lm = train(sents, order=order, smoothing=smoothing, prune=prune, **params)
    contexts = {()}
    for s in sents:
        toks = ["<s>", *s]
        for i in range(1, len(toks) + 1):
            contexts.add(tuple(toks[max(0, i - order + 1) : i]))
    for h in contexts:
        p = np.power(10.0, lm.next_logprobs(list(h)))
        p[1] = 0.0  # <s> is never predicted
        # 1e-5, not 1e-9: the model stores float32 log10 values (2**-24 relative each); the
        # estimators' float64 distributions are held to 1e-9 in test_properties
        assert p.sum() == pytest.approx(1.0, abs=1e-5), h


def test_next_logprobs_agrees_with_logprob():
    lm = train([["a", "b", "c"], ["b", "c", "a"], ["a", "c"]], order=3, smoothing="kn",
               discount=0.6)
    nxt = lm.next_logprobs(["<s>", "a"])
    for i, w in enumerate(lm.words):
        if w != "<s>":
            assert nxt[i] == pytest.approx(lm.logprob(w, ["<s>", "a"]), abs=1e-12)


def test_evaluate_and_generate():
    sents = [["a", "b", "c"], ["b", "c"], ["c", "a", "zz"]]
    lm = train(sents, order=2, smoothing="kn", discount_fallback=0.5)
    ev = lm.evaluate(sents)
    res = lm.score_batch(sents)
    assert ev["tokens"] == sum(r.tokens for r in res) == 11
    assert ev["oov"] == 0  # zz was in training, so it is a word of the vocabulary
    assert ev["log10_prob"] == pytest.approx(sum(r.log10_prob for r in res))
    assert ev["perplexity"] == pytest.approx(10 ** (-ev["log10_prob"] / 11))
    ev2 = lm.evaluate([["a", "qq"]])
    assert ev2["oov"] == 1 and ev2["perplexity_excluding_oovs"] < ev2["perplexity"]
    g1, g2 = lm.generate(20, seed=3), lm.generate(20, seed=3)
    assert g1 == g2 and all(w in {"a", "b", "c", "zz"} for w in g1)


def test_improper_model_makes_no_perplexity_claim():
    base = train([["a", "b"], ["b"]], order=2, smoothing="kn", discount=0.5).to_tables()
    base.proper = False
    lm = NgramModel.from_tables(base)
    assert lm.score(["a"]).perplexity is None
    assert lm.evaluate([["a"]])["perplexity"] is None


def test_train_bad_input():
    with pytest.raises(ValueError, match="unknown smoothing"):
        train([["a"]], smoothing="nope")
    with pytest.raises(ValueError, match="order"):
        train([["a"]], order=0)
    with pytest.raises(ValueError, match="discount"):
        train([["a", "b"]], order=2, smoothing="kn", discount=1.5)
    with pytest.raises(ValueError, match="empty corpus"):
        train([], order=2)


# ------------------------------------------------------------------ persistence and ARPA
@pytest.fixture(scope="module")
def small_lm() -> NgramModel:
    rng = random.Random(1)
    sents = [[rng.choice(WORDS) for _ in range(rng.randint(1, 8))] for _ in range(80)]
    return train(sents, order=3, smoothing="mkn", discount_fallback=(0.5, 1, 1.5))


def test_save_load_round_trip_is_identical(small_lm, tmp_path):
    small_lm.save(tmp_path / "m")
    lm = NgramModel.load(tmp_path / "m")
    # plain ndarray views of the mapped files (no np.memmap per-index overhead), still mapped
    assert type(lm.lp[1]) is np.ndarray and isinstance(lm.lp[1].base, np.memmap)
    assert type(lm.keys[2]) is np.ndarray and not lm.keys[2].flags.writeable
    for a, b in zip(small_lm.lp + small_lm.bo, lm.lp + lm.bo, strict=True):
        assert np.array_equal(a, b)
    assert all(np.array_equal(a, b) for a, b in zip(small_lm.keys[1:], lm.keys[1:], strict=True))
    assert (lm.order, lm.smoothing, lm.proper, lm.vocab) == (3, "mkn", True, small_lm.vocab)
    with pytest.raises(ValueError, match="header"):
        NgramModel.load(tmp_path)


@pytest.mark.parametrize("name", ["m.arpa", "m.arpa.gz"])
def test_arpa_round_trip_is_exact(small_lm, tmp_path, name):
    small_lm.to_arpa(tmp_path / name)
    lm = NgramModel.from_arpa(tmp_path / name)
    assert lm.words == small_lm.words
    for a, b in zip(small_lm.lp + small_lm.bo, lm.lp + lm.bo, strict=True):
        assert np.array_equal(a, b)  # repr() floats read back bit for bit


def test_load_artifact(small_lm, tmp_path):
    with ArtifactWriter(tmp_path, "demo", "ngram") as w:
        small_lm.save(w.dir / MODEL_DIR)
    lm = load_artifact(verify(w.version_dir))
    s = ["a", "b", "c"]
    assert lm.score(s).log10_prob == small_lm.score(s).log10_prob


GOOD = """\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.0\t<unk>\t0
0\t<s>\t-0.5
-0.5\t</s>\t0
-0.6\ta\t-0.2

\\2-grams:
-0.3\t<s> a
-0.2\ta </s>

\\end\\
"""


def _write(tmp_path: Path, text: str, name: str = "x.arpa") -> Path:
    p = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(p, "wt") as f:
            f.write(text)
    else:
        p.write_text(text)
    return p


def test_read_small_arpa(tmp_path):
    t = read_arpa(_write(tmp_path, GOOD, "x.arpa.gz"))
    assert t.counts() == [4, 2] and t.vocab[:4] == ["<unk>", "<s>", "</s>", "a"]
    lm = NgramModel.from_tables(t)
    # p(a|<s>) = -0.3; p(</s>|a) = -0.2
    assert lm.score(["a"]).log10_prob == pytest.approx(-0.5)
    # p(b|a) = p(<unk>|a) = bo(a) + p(<unk>) = -0.2 + -1.0
    assert lm.logprob("b", ["a"]) == pytest.approx(-1.2)
    write_arpa(t, tmp_path / "y.arpa")
    assert read_arpa(tmp_path / "y.arpa").counts() == [4, 2]


@pytest.mark.parametrize(
    "text,match",
    [
        (GOOD.replace("ngram 2=2", "ngram 2=3"), r"arpa:14: header \(line 3\) declares 3 2-grams"),
        (GOOD.replace("-0.6\ta", "-0.x\ta"), r"x\.arpa:9: non-numeric"),
        (GOOD[: GOOD.index("-0.2\ta </s>")], r"x\.arpa:\d+: truncated"),
        (GOOD.replace("\\end\\\n", ""), r"truncated file: .*\\end"),
        (GOOD.replace("\\data\\", "data"), r"no \\data\\ header"),
        (GOOD.replace("<s> a", "<s> q"), r"x\.arpa:12: word 'q'"),
        (GOOD.replace("ngram 1=4", "ngram one=4"), r"x\.arpa:2: expected 'ngram N=count'"),
        (GOOD.replace("-0.3\t<s> a", "-0.3\t<s>"), r"x\.arpa:12: a 2-gram line needs"),
    ],
)
def test_bad_arpa_errors_name_file_and_line(tmp_path, text, match):
    with pytest.raises(ArpaError, match=match):
        read_arpa(_write(tmp_path, text))


def _naive_arpa(text: str) -> dict[tuple[str, ...], tuple[float, float]]:
    """Line-by-line reading of a well-formed ARPA text, as the spec describes it."""
    out, order = {}, 0
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("\\") and line.endswith("-grams:"):
            order = int(line[1:].split("-")[0])
        elif line and order and not line.startswith("\\"):
            f = line.split()
            out[tuple(f[1 : order + 1])] = (float(f[0]), float(f[order + 1]) if len(f) > order + 1
                                             else 0.0)
    return out


def _as_dict(t) -> dict[tuple[str, ...], tuple[float, float]]:
    return {tuple(t.vocab[i] for i in row): (p, b)
            for o in range(t.order)
            for row, p, b in zip(t.grams[o].tolist(), t.logprob[o].tolist(),
                                 t.backoff[o].tolist(), strict=True)}


def _read_in_blocks(path: Path, block: int):
    from nlpsvc.ngram import arpa

    with open(path, "rb") as f:
        return arpa._read(path, arpa._Lines(f, block=block))


@pytest.mark.parametrize("layout", ["kenlm", "crlf", "no_zero_backoff", "spaces", "blank_ws"])
@pytest.mark.parametrize("block", [1 << 22, 40, 1])
def test_read_arpa_layouts_and_block_boundaries(small_lm, tmp_path, layout, block):
    """The bulk reader gives what a line-by-line reading gives: uniform and mixed field
    counts (SRILM leaves out zero backoffs), CRLF, other whitespace, any block size."""
    small_lm.to_arpa(tmp_path / "m.arpa")
    text = (tmp_path / "m.arpa").read_text()
    if layout == "crlf":
        text = text.replace("\n", "\r\n")
    elif layout == "no_zero_backoff":
        text = "\n".join(ln[: -len("\t0.0")] if ln.endswith("\t0.0") else ln
                         for ln in text.split("\n"))
        assert "\t0.0\n" not in text
    elif layout == "spaces":
        text = "comment before the header\n" + text.replace("\t", "  ").replace("\n", " \n")
    elif layout == "blank_ws":
        text = text.replace("\n\n", "\n \t \n")
    if layout in ("crlf", "spaces"):
        text = text.rstrip("\r\n")  # no newline after \end\
    path = _write(tmp_path, text)
    got = _read_in_blocks(path, block)
    assert got.counts() == small_lm.counts()
    assert _as_dict(got) == _naive_arpa(text.replace("\r", ""))
    assert _as_dict(read_arpa(path)) == _as_dict(got)


MIXED = GOOD.replace("-0.5\t</s>\t0", "-0.5\t</s>")  # unigram lines with and without backoff


@pytest.mark.parametrize(
    "text,match",
    [
        (MIXED.replace("<s> a", "<s> q"), r"x\.arpa:12: word 'q'"),
        (MIXED.replace("-0.5\t</s>\n", "-0.5\t</s>\n-0.1\ta\n").replace("1=4", "1=5"),
         r"x\.arpa:10: duplicate unigram 'a'"),
        (MIXED.replace("-0.6\ta", "-0.6\ta b c"),
         r"x\.arpa:9: a 1-gram line needs 2 or 3 fields, got 5"),
        (MIXED.replace("-0.6\ta", "nan\ta"), r"x\.arpa:9: NaN"),
        (MIXED.replace("-0.2\ta </s>", "-0.2\ta"), r"x\.arpa:13: a 2-gram line needs 3 or 4"),
        (MIXED.replace("\n\n\\2-grams:", "\nstray\n\n\\2-grams:"),
         r"x\.arpa:10: a 1-gram line needs 2 or 3 fields, got 1"),
    ],
)
@pytest.mark.parametrize("block", [1 << 22, 1])
def test_bad_arpa_errors_in_bulk_blocks_name_the_line(tmp_path, text, match, block):
    path = _write(tmp_path, text)
    with pytest.raises(ArpaError, match=match):
        _read_in_blocks(path, block)


def test_duplicate_unigram_across_blocks(tmp_path):
    text = GOOD.replace("-0.6\ta\t-0.2", "-0.6\ta\t-0.2\n-0.7\t<s>\t0").replace("1=4", "1=5")
    with pytest.raises(ArpaError, match=r"x\.arpa:10: duplicate unigram '<s>'"):
        _read_in_blocks(_write(tmp_path, text), 1)


def test_header_json_describes_model(small_lm, tmp_path):
    small_lm.save(tmp_path)
    h = json.loads((tmp_path / "header.json").read_text())
    assert h["order"] == 3 and h["counts"] == small_lm.counts() and h["smoothing"] == "mkn"
