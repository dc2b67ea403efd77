"""The hash tables and the compiled scoring kernel, checked bit for bit against the numpy path
they replace (``numpy_oracle``): every smoothing, orders 1-5, OOVs, -inf, empty sentences,
markers on and off, models with gaps in their suffix chains, mapped and in-memory models."""

from __future__ import annotations

import json
import random

import numba
import numpy as np
import pytest

from nlpsvc.artifacts import ArtifactWriter, verify
from nlpsvc.ngram import (
    MODEL_DIR,
    BackoffTables,
    NgramModel,
    count_ngrams,
    get_estimator,
    load_artifact,
    probing,
    train,
    wordids,
)
from nlpsvc.ngram._probejit import data_address
from nlpsvc.ngram._wordidsjit import head_and_hash, scan_token
from tests.ngram import numpy_oracle

WORDS = ["a", "b", "c", "d", "e"]
# tokens the text path (wordids) must map exactly as the dict, or leave to it: non-ASCII, a
# lone surrogate, the empty string, NUL inside a token, a token that is not a string
ODD = ["é", "\ud800", "", "a\x00b", "日本"]
MARKERS = ((True, True), (False, True), (True, False), (False, False))
PARAMS: dict[str, dict] = {
    "mkn": {"discount_fallback": (0.5, 1, 1.5)},
    "kn": {"discount_fallback": 0.5},
    "absolute": {"discount_fallback": 0.5},
}


def corpus(rng: random.Random, n: int, vocab: list[str], max_len: int) -> list[list[str]]:
    return [[rng.choice(vocab) for _ in range(rng.randint(0, max_len))] for _ in range(n)]


def assert_same_as_numpy(lm: NgramModel, probe: list[list[str]]) -> None:
    """score_batch, score and evaluate equal the numpy path exactly (==), Python types too."""
    for bos, eos in MARKERS:
        for per_token in (False, True):
            want = numpy_oracle.score_batch(lm, probe, per_token, bos, eos)
            got = lm.score_batch(probe, per_token=per_token, bos=bos, eos=eos)
            assert [g.to_dict() for g in got] == [w.to_dict() for w in want]
            for s, w in zip(probe, want, strict=True):
                one = lm.score(s, bos=bos, eos=eos, per_token=per_token)
                assert one.to_dict() == w.to_dict()
                assert type(one.log10_prob) is float and type(one.oov) is type(one.tokens) is int
                assert all(type(t.log10_prob) is float and type(t.ngram_order) is int
                           and type(t.oov) is bool for t in one.per_token or [])
        if any(probe) or eos:
            total, oov_total, tokens, oov = numpy_oracle.evaluate_sums(lm, probe, bos, eos)
            ev = lm.evaluate(probe, bos=bos, eos=eos)
            assert (ev["log10_prob"], ev["tokens"], ev["oov"]) == (total, tokens, oov)
            if lm.proper and tokens > oov:
                want_ex = lm._perplexity(total - oov_total, tokens - oov)
                assert repr(ev["perplexity_excluding_oovs"]) == repr(want_ex)  # nan: MLE


@pytest.mark.parametrize("smoothing", ["mkn", "kn", "mle", "stupid_backoff", "katz",
                                       "witten_bell", "absolute", "addk"])
@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_kernel_is_bit_identical_to_numpy_path(smoothing, order, tmp_path):
    rng = random.Random(order * 31 + len(smoothing))
    sents = corpus(rng, 60, WORDS[:4] + ["é", "日本"], 9)  # (save cannot write "\ud800")
    lm = train([s for s in sents if s], order=order, smoothing=smoothing,
               **PARAMS.get(smoothing, {}))
    lm.save(tmp_path / "m")
    mapped = NgramModel.load(tmp_path / "m")
    probe = corpus(rng, 40, WORDS + ODD + ["qq", "<unk>", "<s>"], 12) + [[]]
    probe[3] = probe[3] + [7]  # type: ignore[list-item]  # not a string: <unk> via the dict
    assert lm.suffix_closed and mapped.suffix_closed and suffix_closed(lm)
    for model in (lm, mapped):
        assert_same_as_numpy(model, probe)


def suffix_closed(lm: NgramModel) -> bool:
    """Whether every stored n-gram's suffix is stored, by brute force over its word tuples."""
    grams = [set(map(tuple, g.tolist())) for g in lm.to_tables().grams]
    return all(g[1:] in grams[len(g) - 2] for o in grams[1:] for g in o)


def gapped(tables: BackoffTables, rng: random.Random, keep: float) -> BackoffTables:
    """Drop random n-grams that are no other's prefix: suffixes go missing while longer
    n-grams stay (pruned or hand-made ARPA files), so chains have gaps."""
    grams, lp, bo = list(tables.grams), list(tables.logprob), list(tables.backoff)
    for o in range(tables.order - 1, 0, -1):  # index o: order o + 1, highest first
        needed = set()
        if o + 1 < tables.order:
            needed = {tuple(r) for r in grams[o + 1][:, :-1].tolist()}
        mask = np.array([tuple(r) in needed or rng.random() < keep
                         for r in grams[o].tolist()], dtype=bool)
        grams[o], lp[o], bo[o] = grams[o][mask], lp[o][mask], bo[o][mask]
    return BackoffTables(vocab=tables.vocab, grams=grams, logprob=lp, backoff=bo,
                         missing_backoff=tables.missing_backoff, proper=tables.proper,
                         smoothing=tables.smoothing)


@pytest.mark.parametrize("seed", range(4))
def test_kernel_follows_gapped_chains_and_missing_backoff(seed, tmp_path):
    rng = random.Random(seed)
    sents = corpus(rng, 80, WORDS, 10)
    tables = train([s for s in sents if s], order=4, **PARAMS["mkn"]).to_tables()
    tables = gapped(tables, rng, keep=0.6)
    tables.missing_backoff = -0.25 * (seed + 1)  # as stupid backoff's alpha
    lm = NgramModel.from_tables(tables)
    assert not lm.suffix_closed and not suffix_closed(lm)  # all its lookups are made
    lm.save(tmp_path / "m")
    probe = corpus(rng, 60, WORDS + ["zz"], 14)
    for model in (lm, NgramModel.load(tmp_path / "m", mmap=False)):
        assert_same_as_numpy(model, probe)
        for s in probe[:10]:
            toks = ["<s>", *s, "</s>"]
            res = model.score(s, per_token=True)
            for i, ts in enumerate(res.per_token or [], 1):
                assert model.logprob(toks[i], toks[:i]) == ts.log10_prob


def words_of(keys: list, o: int, row: int, V: int) -> list[int]:
    """The word ids of row ``row`` of order ``o``, read down its prefix chain."""
    out: list[int] = []
    k = row
    for j in range(o, 1, -1):
        k, w = divmod(int(keys[j - 1][k]), V)
        out.append(w)
    return [k, *reversed(out)]


def word_hash(words: list[int]) -> np.uint64:
    h = probing.SEED
    for w in words:
        h = np.uint64(probing.step(h, w))  # numba returns a Python int
    return h


def test_table_finds_every_ngram_and_rejects_others(tmp_path):
    rng = np.random.default_rng(5)
    V = 3000
    keys2 = np.unique(rng.integers(0, V * V, 20_000))
    keys3 = np.unique(rng.integers(0, keys2.size, 20_000) * V + rng.integers(0, V, 20_000))
    keys = [None, keys2, keys3]
    for o, k in ((2, keys2), (3, keys3)):
        slots = probing.build(keys, o, V)
        probing.build_file(keys, o, V, tmp_path / "t.npy")
        assert np.array_equal(np.load(tmp_path / "t.npy"), slots)
        assert probing.valid(slots, k.size) and (slots != 0).sum() == k.size
        rb = probing.row_bits(k.size)
        assert sorted(((slots[slots != 0] & ((1 << rb) - 1)) - 1).tolist()) == list(range(k.size))
        args = (k.ctypes.data, k.strides[0], slots.ctypes.data, slots.size, rb)
        for row in rng.integers(0, k.size, 300).tolist():
            h = word_hash(words_of(keys, o, row, V))
            assert probing.find(*args, h, int(k[row])) == row
        n_prefix = V if o == 2 else keys2.size
        absent = np.setdiff1d(rng.integers(0, n_prefix, 300) * V + rng.integers(0, V, 300), k)
        for key in absent.tolist():
            parent, w = divmod(key, V)
            prefix = [parent] if o == 2 else words_of(keys, 2, parent, V)
            assert probing.find(*args, word_hash([*prefix, w]), key) == -1
    empty = probing.build([None, np.zeros(0, dtype=np.int64)], 2, V)
    assert empty.shape == (1,)
    assert probing.find(0, 8, empty.ctypes.data, 1, 1, np.uint64(5), 7) == -1


@pytest.fixture(scope="module")
def lm4() -> NgramModel:
    rng = random.Random(3)
    return train([s for s in corpus(rng, 100, WORDS, 9) if s], order=4, **PARAMS["mkn"])


def test_saved_tables_are_mapped_and_in_the_manifest(lm4, tmp_path):
    with ArtifactWriter(tmp_path, "demo", "ngram") as w:
        lm4.save(w.dir / MODEL_DIR)
    art = verify(w.version_dir)
    files = json.loads((w.version_dir / "manifest.json").read_text())["files"]
    tables = [f"probe{o}.npy" for o in (2, 3, 4)] + list(wordids.FILES)
    assert {f"{MODEL_DIR}/{f}" for f in tables} <= set(files)
    lm = load_artifact(art)
    assert all(isinstance(t.base, np.memmap) for t in lm.vocab_table or ())
    for o in (2, 3, 4):
        table = lm.probe[o - 1]
        assert type(table) is np.ndarray and isinstance(table.base, np.memmap)
        assert not table.flags.writeable
        assert np.array_equal(table, probing.build(lm4.keys, o, lm4.V))
    s = ["a", "b", "zz", "c"]
    assert lm.score(s, per_token=True).to_dict() == lm4.score(s, per_token=True).to_dict()
    assert lm.score_batch([s, s])[1].to_dict() == lm4.score(s).to_dict()
    assert "_index" not in vars(lm)  # the word -> id dict is never built to score text


def drop_tables(d) -> None:
    """Make ``d`` a folder as saved before the tables existed."""
    header = json.loads((d / "header.json").read_text())
    del header["probe"], header["vocab_probe"]
    (d / "header.json").write_text(json.dumps(header))
    for f in [f"probe{o}.npy" for o in range(2, header["order"] + 1)] + list(wordids.FILES):
        (d / f).unlink()


def test_model_saved_without_tables_still_loads(lm4, tmp_path):
    d = lm4.save(tmp_path / "m")
    drop_tables(d)
    lm = NgramModel.load(d)
    assert all(isinstance(t, np.ndarray) and t.flags.writeable for t in lm.probe[1:])
    probe = corpus(random.Random(0), 30, WORDS + ["zz"], 10)
    assert [r.to_dict() for r in lm.score_batch(probe, per_token=True)] == \
        [r.to_dict() for r in lm4.score_batch(probe, per_token=True)]


def test_write_tables_completes_a_folder_saved_without_them(lm4, tmp_path):
    d = lm4.save(tmp_path / "m")
    names = [f"probe{o}.npy" for o in (2, 3, 4)] + list(wordids.FILES)
    files = {f: (d / f).read_bytes() for f in names}
    drop_tables(d)
    NgramModel.write_tables(d)
    assert {f: (d / f).read_bytes() for f in names} == files
    lm = NgramModel.load(d)
    assert all(isinstance(t.base, np.memmap) for t in lm.probe[1:])
    assert lm.score(["a", "zz"]).to_dict() == lm4.score(["a", "zz"]).to_dict()


def test_table_that_does_not_fit_is_an_error(lm4, tmp_path):
    d = lm4.save(tmp_path / "m")
    np.save(d / "probe3.npy", np.zeros(7, dtype=np.uint32))
    with pytest.raises(ValueError, match="probe3.npy"):
        NgramModel.load(d)


@pytest.mark.parametrize("bad", [np.zeros(5, dtype=np.int64),  # not records
                                 np.zeros(5, dtype=[("key", "<i8"), ("logprob", "<f4")]),
                                 np.zeros(5, dtype=[("key", "<i8"), ("logprob", "<i4"),
                                                    ("backoff", "<i4")])])
def test_records_of_another_shape_are_an_error(lm4, tmp_path, bad):
    """Order 2's records of a 4-gram model hold key, log prob and backoff, floats: anything
    else (plain keys, no backoff, integer values) is refused, naming the file."""
    d = lm4.save(tmp_path / "m")
    np.save(d / "ngrams2.npy", bad)
    with pytest.raises(ValueError, match="ngrams2.npy"):
        NgramModel.load(d)


@pytest.mark.parametrize("nul", [False, True])  # a word holding NUL: the one-by-one build
def test_vocabulary_table_maps_as_the_dict(nul):
    words = ["<unk>", "<s>", "</s>", "a", "é", "\ud800", "a", "", "two words", "日本"]
    # 8 bytes (a whole head), longer words sharing a head, one stored twice
    words += ["internat", "internati", "international", "internationalization", "internati"]
    # a 7-byte word's head (bytes, then its length 7) equals the head of a longer word whose
    # 8th byte is \x07: told apart by the long-word bit
    words += ["abcdefg", "abcdefg\x07xyz"]
    words += ["x\x00y", "internat\x00y"] * nul
    rng = random.Random(nul)
    words += ["".join(rng.choices("abé\x01", k=rng.randint(0, 20))) for _ in range(3000)]
    index = {w: i for i, w in enumerate(words)}  # "a": its last id, as NgramModel._index
    blob, offsets, slots = wordids.build(words)
    assert wordids.valid(blob, offsets, slots, len(words))
    others = ["b", "aa", "日", "\udfff", "two", "x", "interna", "internatio", "internationa",
              "internationalizatio", "internationalizations", "internat\x01", "abcdefg\x07",
              "abcdefg\x07xy", "abcdef", "abcdefgh"]
    others += ["".join(rng.choices("abé\x01", k=rng.randint(0, 20))) for _ in range(3000)]
    for tok in [*words, *others]:
        text = tok.encode("utf-8", "surrogatepass")
        got = wordids.lookup(text, 0, len(text), blob, offsets, slots, 0)
        assert got == index.get(tok, 0), tok
    assert wordids.encode(["a", "b"], 2) == b"a\x00b"
    assert wordids.encode([], 0) == b"" and wordids.encode([""], 1) == b""
    assert wordids.encode(["a\x00"], 1) is None and wordids.encode(["a", 3], 2) is None
    # a batch: empty sentences add no separator, an empty token does; NUL is the kernel's check
    assert wordids.encode_sentences([["a", "b"], [], [""], ("c",)]) == b"a\x00b\x00\x00c"
    assert wordids.encode_sentences([[], []]) == b""
    assert wordids.encode_sentences([["a", 3]]) is None
    for nonempty in (False, True):
        assert wordids.encode_sentences([["a", "b"], ("c",)], nonempty) == b"a\x00b\x00c"
        assert wordids.encode_sentences([["a", 3]], nonempty) is None


@numba.njit
def _scan_all(text: bytes, n: int) -> np.ndarray:
    tp = data_address(text)
    out = np.empty((n, 3), dtype=np.uint64)
    a = 0
    for i in range(n):
        e, out[i, 1], out[i, 2] = scan_token(text, tp, a, len(text))
        out[i, 0] = e
        a = e + 1
    return out


@pytest.mark.parametrize("seed", range(3))
def test_token_scan_reads_words_as_the_byte_loop(seed):
    """The kernel's scan (8 bytes at a time) ends, heads and hashes every token as the byte
    loop and ``head_and_hash`` do: lengths 0-25, multi-byte characters, bytes 0x01 and 0x80
    (the NUL test's traps), tokens near the text's end."""
    rng = random.Random(seed)
    toks = ["".join(rng.choices("ab\x01\x7fé日", k=rng.choice([0, 1, 7, 8, 9, 15, 16, 17,
                                                             rng.randint(0, 25)])))
            for _ in range(400)]
    text = "\x00".join(toks).encode("utf-8")
    got = _scan_all(text, len(toks))
    a = 0
    for i, tok in enumerate(toks):
        e = a + len(tok.encode("utf-8"))
        assert int(got[i, 0]) == e
        assert tuple(map(int, got[i, 1:])) == tuple(map(int, head_and_hash(text, a, e)))
        a = e + 1


def test_threads_share_a_model(lm4, tmp_path):
    """The kernel runs without the GIL on shared read-only arrays: threads scoring one mapped
    model at once get the serial results."""
    from concurrent.futures import ThreadPoolExecutor

    lm = NgramModel.load(lm4.save(tmp_path / "m"))
    probe = corpus(random.Random(9), 400, WORDS + ["zz"], 12)
    want = [r.to_dict() for r in lm.score_batch(probe)]
    chunks = [probe[i:i + 50] for i in range(0, len(probe), 50)]
    with ThreadPoolExecutor(4) as pool:
        got = [r.to_dict() for rs in pool.map(lm.score_batch, chunks) for r in rs]
        single = list(pool.map(lambda s: lm.score(s).to_dict(), probe))
    assert got == want and single == want


def test_strings_are_not_token_lists(lm4):
    with pytest.raises(TypeError):
        lm4.score("a b")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        lm4.score_batch(["a b"])  # type: ignore[list-item]
    assert lm4.score(iter(["a", "b"])).to_dict() == lm4.score(["a", "b"]).to_dict()


@pytest.mark.parametrize("block", [1, 7, 1 << 20])
def test_build_files_one_order_at_a_time_equals_build(lm4, tmp_path, block):
    # write_tables' builder hashes each n-gram from its prefix's hash (kept per order) and
    # reads the keys in blocks; the tables must be build()'s, whatever the block boundaries
    d = lm4.save(tmp_path / "m")
    for o in (2, 3, 4):
        (d / f"probe{o}.npy").unlink()
    probing.build_files(d, 4, lm4.V, block=block)
    for o in (2, 3, 4):
        assert np.array_equal(np.load(d / f"probe{o}.npy"), probing.build(lm4.keys, o, lm4.V))


def as_v1(folder, order):
    """Rewrite a saved folder as format v1 wrote it: an array per file, no suffix flag."""
    for o in range(1, order + 1):
        rec = np.load(folder / f"ngrams{o}.npy")
        for field, name in (("key", "keys"), ("logprob", "logprob"), ("backoff", "backoff")):
            if field in rec.dtype.names:
                np.save(folder / f"{name}{o}.npy", np.ascontiguousarray(rec[field]))
        (folder / f"ngrams{o}.npy").unlink()
    header = json.loads((folder / "header.json").read_text())
    header["format_version"] = 1
    del header["suffix_closed"]
    (folder / "header.json").write_text(json.dumps(header))
    return folder


def test_stored_float32_and_float64_folders_of_before_still_score(tmp_path):
    """Models store log10 p and backoffs as float32 (KenLM's size) in records, one file per
    order; folders of before, an array per file (v1), in float32 or float64, still load, each
    scored from its own values, bit-identical to the numpy path over the same arrays."""
    rng = random.Random(11)
    sents = [s for s in corpus(rng, 80, WORDS, 9) if s]
    tables = get_estimator("mkn", **PARAMS["mkn"]).fit(count_ngrams(sents, 4))
    new = NgramModel.from_tables(tables).save(tmp_path / "new")
    v1 = as_v1(NgramModel.from_tables(tables).save(tmp_path / "v1"), 4)
    old = as_v1(NgramModel.from_tables(tables, dtype=np.float64).save(tmp_path / "old"), 4)
    for o in range(1, 5):
        rec = np.load(new / f"ngrams{o}.npy")
        assert rec.dtype["logprob"] == np.float32 and rec.itemsize == 4 * (o < 4) + 4 + 8 * (o > 1)
        assert np.load(old / f"logprob{o}.npy").dtype == np.float64
        assert np.array_equal(rec["logprob"], np.load(v1 / f"logprob{o}.npy"))
        assert np.array_equal(rec["logprob"], np.load(old / f"logprob{o}.npy").astype(np.float32))
    probe = corpus(rng, 40, WORDS + ["zz"], 12)
    lm_new, lm_v1, lm_old = NgramModel.load(new), NgramModel.load(v1), NgramModel.load(old)
    assert lm_new.suffix_closed and not lm_v1.suffix_closed
    assert lm_old.lp[1].dtype == np.float64 and lm_new.lp[1].dtype == np.float32
    for model in (lm_new, lm_v1, lm_old):
        assert_same_as_numpy(model, probe)
    assert lm_new.score_batch(probe) == lm_v1.score_batch(probe)
    for a, b in zip(lm_new.score_batch(probe), lm_old.score_batch(probe), strict=True):
        assert a.log10_prob == pytest.approx(b.log10_prob, abs=1e-5)  # float32 rounding only
