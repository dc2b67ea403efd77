"""Oracle: KenLM's own outputs on PTB slices (``shared/reference/kenlm``, built by ``lmplz``).

Our modified Kneser-Ney on the same text must reproduce every n-gram's log10 prob and backoff,
the discounts and the test perplexity; the reference ARPA read here must score as the ``kenlm``
module does; the ARPA we write must load in ``kenlm`` and score the same.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from nlpsvc.ngram import NgramModel, read_arpa, train
from nlpsvc.ngram.counts import count_ngrams
from nlpsvc.ngram.estimators._ops import NgramIndex
from nlpsvc.ngram.estimators.kneser_ney import kn_tables
from tests.conftest import SHARED_DATA

REFERENCE = SHARED_DATA.parent / "reference"
REF = REFERENCE / "kenlm"
PTB = SHARED_DATA / "ptb"

# Skipped without ../shared/data; with it, a missing PTB file fails (tests/conftest.py).
pytestmark = [pytest.mark.shared_data("ptb", name)
              for name in ("ptb.train.txt", "ptb.test.txt")]


def ref(name: str) -> Path:
    """``../shared/reference/kenlm/<name>``: the data rule of ``tests/conftest.py`` for the
    reference folder (skip without it; a missing file beside it is a failure)."""
    if not REFERENCE.is_dir():
        pytest.skip(f"needs the shared reference folder {REFERENCE} (not in this checkout)")
    path = REF / name
    if not path.is_file():
        pytest.fail(f"{path} is missing although {REFERENCE} is present", pytrace=False)
    return path


def _ptb(name: str, n: int | None = None) -> list[list[str]]:
    """PTB lines prepared as the reference README says (``<unk>`` renamed ``<unk_lit>``)."""
    out = []
    with open(PTB / name, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if n is not None and i >= n:
                break
            out.append(line.replace("<unk>", "<unk_lit>").split())
    return out


@pytest.fixture(scope="module")
def train500() -> list[list[str]]:
    return _ptb("ptb.train.txt", 500)


@pytest.fixture(scope="module")
def train5k() -> list[list[str]]:
    return _ptb("ptb.train.txt", 5000)


@pytest.fixture(scope="module")
def test_sents() -> list[list[str]]:
    return _ptb("ptb.test.txt")


@pytest.fixture(scope="module")
def scores() -> dict:
    return json.loads(ref("kenlm_scores.json").read_text())


def _entries(tables) -> dict[tuple[str, ...], tuple[float, float]]:
    out = {}
    for o in range(tables.order):
        words = tables.vocab
        for row, p, b in zip(
            tables.grams[o].tolist(), tables.logprob[o].tolist(), tables.backoff[o].tolist(),
            strict=True,
        ):
            out[tuple(words[i] for i in row)] = (p, b)
    return out


def _discounts(name: str) -> list[list[float]]:
    rows = []
    for line in ref(f"lmplz{name}.discounts.txt").read_text().splitlines():
        if "D1=" in line:
            rows.append([float(x.split("=")[1]) for x in line.split()[2:]])
    return rows


def _max_diffs(ours, ref) -> tuple[float, float]:
    """Max |diff| of log10 p and backoff over every n-gram, after checking the sets are equal.

    Vectorised (the full-PTB model has 860k n-grams): the reference's rows are mapped to our
    word ids and looked up in our sorted tables; a row we lack is a failure, and equal counts
    per order then make the two sets equal.
    """
    assert ours.counts() == ref.counts()
    ids = {w: i for i, w in enumerate(ours.vocab)}
    assert set(ids) == set(ref.vocab)
    to_ours = np.array([ids[w] for w in ref.vocab])
    index = NgramIndex(ours.grams, len(ours.vocab))
    dp = db = 0.0
    for o in range(ours.order):
        rows = index.find(to_ours[ref.grams[o]])
        assert (rows >= 0).all(), f"order {o + 1}: a reference n-gram is missing"
        assert np.unique(rows).size == rows.size
        dp = max(dp, float(np.abs(ours.logprob[o][rows] - ref.logprob[o]).max()))
        db = max(db, float(np.abs(ours.backoff[o][rows] - ref.backoff[o]).max()))
    return dp, db


@pytest.mark.parametrize(
    "name,lines,order,disc",
    [
        ("ptb500.o3", 500, 3, "500.o3"),
        ("ptb5k.o3", 5000, 3, "5k.o3"),
        ("ptb5k.o5", 5000, 5, "5k.o5"),
        ("ptb.o3", None, 3, ".o3"),  # full PTB: the last word's raw-count statistic matters
        ("ptb.o5", None, 5, ".o5"),  # full PTB, order 5
    ],
)
def test_mkn_reproduces_every_kenlm_ngram(name, lines, order, disc, train500, train5k):
    sents = {500: train500, 5000: train5k}.get(lines) or _ptb("ptb.train.txt")
    counts = count_ngrams(sents, order)
    ours = kn_tables(counts, variant="mkn")
    theirs = read_arpa(ref(f"{name}.arpa.gz"))
    dp, db = _max_diffs(ours, theirs)
    assert dp < 1e-5 and db < 1e-5, (dp, db)
    # lmplz prints its discounts with 6 significant digits
    np.testing.assert_allclose(ours.params["discounts"], _discounts(disc), rtol=6e-6)


def test_slice_entries_equal_as_words(train500):
    """The vectorised comparison above agrees with a plain word-tuple comparison."""
    ours = kn_tables(count_ngrams(train500, 3), variant="mkn")
    mine, theirs = _entries(ours), _entries(read_arpa(ref("ptb500.o3.arpa.gz")))
    assert mine.keys() == theirs.keys()
    assert max(abs(mine[k][0] - v[0]) for k, v in theirs.items()) < 1e-5


@pytest.mark.parametrize("name,lines,order", [("ptb500.o3", 500, 3), ("ptb5k.o5", 5000, 5)])
def test_mkn_test_perplexity_matches_kenlm(name, lines, order, train500, train5k, test_sents,
                                           scores):
    lm = train(train500 if lines == 500 else train5k, order=order, smoothing="mkn")
    ev = lm.evaluate(test_sents)
    ref = scores[name]
    assert ev["tokens"] == ref["test_tokens_incl_eos"]
    assert ev["oov"] == ref["oov"] > 0
    for ours_key, ref_key in [
        ("perplexity", "perplexity_including_oovs"),
        ("perplexity_excluding_oovs", "perplexity_excluding_oovs"),
    ]:
        assert abs(ev[ours_key] / ref[ref_key] - 1) < 1e-3 * 0.01  # far inside the 0.1% goal
    assert ev["log10_prob"] == pytest.approx(ref["total_log10"], rel=1e-6)


@pytest.mark.parametrize("name", ["ptb500.o3", "ptb5k.o3"])
def test_reading_reference_arpa_scores_like_kenlm_full_scores(name, scores):
    lm = NgramModel.from_arpa(ref(f"{name}.arpa.gz"))
    for sent in scores[name]["first_50_test_sentences"]:
        res = lm.score(sent["sentence"].split(), per_token=True)
        assert res.log10_prob == pytest.approx(sent["log10_prob"], abs=1e-4)  # float32 sum
        assert len(res.per_token) == len(sent["per_token"])
        for tok, (p, n, oov) in zip(res.per_token, sent["per_token"], strict=True):
            assert tok.ngram_order == n
            assert tok.oov == oov
            assert tok.log10_prob == pytest.approx(p, abs=1e-5)


def test_reference_arpa_matches_kenlm_module_on_whole_test_set(test_sents):
    kenlm = pytest.importorskip("kenlm")
    path = ref("ptb500.o3.arpa.gz")
    km = kenlm.Model(str(path))
    lm = NgramModel.from_arpa(path)
    ours = lm.score_batch(test_sents[:400], per_token=True)
    for sent, res in zip(test_sents[:400], ours, strict=True):
        full = list(km.full_scores(" ".join(sent)))
        assert [t.ngram_order for t in res.per_token] == [n for _, n, _ in full]
        assert [t.oov for t in res.per_token] == [o for _, _, o in full]
        np.testing.assert_allclose([t.log10_prob for t in res.per_token],
                                   [p for p, _, _ in full], atol=1e-5)


@pytest.mark.parametrize("suffix", [".arpa", ".arpa.gz"])
def test_our_arpa_loads_in_kenlm_with_same_scores(suffix, train500, test_sents, tmp_path):
    kenlm = pytest.importorskip("kenlm")
    lm = train(train500, order=3)
    path = tmp_path / f"m{suffix}"
    lm.to_arpa(path)
    km = kenlm.Model(str(path))
    sents = test_sents[:300]
    ours = lm.score_batch(sents)
    diffs = [abs(km.score(" ".join(s)) - r.log10_prob) for s, r in zip(sents, ours, strict=True)]
    assert max(diffs) < 1e-4
    ppl = km.perplexity(" ".join(test_sents[0]))
    assert math.isclose(ppl, ours[0].perplexity, rel_tol=1e-4)
