"""The bounded build (issue 10): spilled, blocked mkn equals the in-memory path bit for bit.

A 64K budget cuts a ~20k-token corpus into ~1000-position count blocks (about 20 sorted runs
per order, merged two at a time over several levels) and ~1000-row estimation blocks, so every
stage spills or blocks; the tables, the saved folder and the discounts must not move.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nlpsvc.ngram import NgramModel, train, train_to_folder
from nlpsvc.ngram import spill as spill_mod
from nlpsvc.ngram.__init__ import _train_in_memory
from nlpsvc.ngram.memory import MIN_BUDGET, BudgetError, parse_memory
from nlpsvc.ngram.spill import PREFIX, SpillError, TempArea

TINY = "64K"


def zipf_corpus(n_sent: int = 2500, seed: int = 7, vocab: int = 400) -> list[list[str]]:
    """Sentences of Zipf-distributed words (varied lengths, repeats at every order)."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, vocab + 1)
    p = 1.0 / ranks**1.1
    p /= p.sum()
    out = []
    for _ in range(n_sent):
        n = int(rng.integers(1, 14))
        out.append([f"w{i}" for i in rng.choice(vocab, size=n, p=p)])
    return out


@pytest.fixture(scope="module")
def corpus() -> list[list[str]]:
    return zipf_corpus()


def in_memory(sents: list[list[str]], order: int, **kw: object) -> NgramModel:
    params = dict(kw.pop("params", {}) or {})  # type: ignore[arg-type]
    base = {"min_count": 1, "max_size": None, "vocab_words": None, "prune": None, "bos": True,
            "eos": True, "progress": False}
    base.update(kw)
    return _train_in_memory(sents, order, "mkn", params=params, **base)  # type: ignore[arg-type]


def assert_same(a: NgramModel, b: NgramModel) -> None:
    assert a.words == b.words
    assert a.counts() == b.counts()
    assert a.params == b.params
    for o in range(a.order):
        assert np.array_equal(np.asarray(a.lp[o]), np.asarray(b.lp[o])), f"logprob {o + 1}"
        if o:
            assert np.array_equal(np.asarray(a.keys[o]), np.asarray(b.keys[o])), f"keys {o + 1}"
        if o < a.order - 1:
            assert np.array_equal(np.asarray(a.bo[o]), np.asarray(b.bo[o])), f"backoff {o + 1}"


def no_temp_left(base: Path) -> bool:
    return not list(base.glob(f"{PREFIX}*"))


@pytest.mark.parametrize("order", [2, 3, 5])
def test_tiny_budget_spills_every_stage_and_tables_are_identical(
    corpus: list[list[str]], order: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    merges: list[int] = []
    real = spill_mod._merge_pass

    def spy(runs, *rest):  # noqa: ANN001, ANN002, ANN202
        merges.append(len(runs))
        return real(runs, *rest)

    monkeypatch.setattr(spill_mod, "_merge_pass", spy)
    blocks: list[int] = []
    from nlpsvc.ngram.estimators import bounded_mkn

    real_order = bounded_mkn._estimate_order
    real_gather = bounded_mkn._gather
    real_cont = bounded_mkn._continuation
    gathers: list[int] = []
    ranges: list[int] = []

    def spy_order(*args):  # noqa: ANN002, ANN202
        blocks.append(args[7])
        return real_order(*args)

    def spy_gather(*args):  # noqa: ANN002, ANN202
        gathers.append(1)
        return real_gather(*args)

    def spy_cont(suffix, a, b, n_rows, block):  # noqa: ANN001, ANN202
        ranges.append(int(b - a < n_rows))
        return real_cont(suffix, a, b, n_rows, block)

    monkeypatch.setattr(bounded_mkn, "_estimate_order", spy_order)
    monkeypatch.setattr(bounded_mkn, "_gather", spy_gather)
    monkeypatch.setattr(bounded_mkn, "_continuation", spy_cont)
    expected = in_memory(corpus, order)
    got = train(corpus, order, "mkn", memory=TINY, temp_dir=tmp_path)
    assert_same(expected, got)
    assert len(merges) >= order - 1 and max(merges) >= 2  # every order merged spilled runs
    n_top = expected.counts()[-1]
    assert blocks and max(blocks) < n_top  # estimation went block by block
    assert sum(ranges) >= (order > 2)  # continuation counts in ranges of rows (orders >= 2)
    assert len(gathers) == order - 2  # lower orders' probabilities read back from disk


@pytest.mark.parametrize("memory", ["8M", "16M"])
def test_one_pass_merges_of_several_runs_are_identical(memory: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Budgets whose blocks still make several runs, merged in one pass (rows from the merge)."""
    passes: list[int] = []
    real = spill_mod.merge_runs

    def spy(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        one = real(*args, **kw)
        if kw.get("ranks") is not None:  # below the top order: rows wanted from the merge
            passes.append(int(one))
        return one

    from nlpsvc.ngram import extcount

    monkeypatch.setattr(extcount, "merge_runs", spy)
    big = zipf_corpus(20000, seed=3, vocab=3000)  # ~160k positions: several blocks at 8M
    got = train(big, 4, "mkn", memory=memory, temp_dir=tmp_path)
    assert_same(in_memory(big, 4), got)
    assert len(passes) == 2 and all(passes)
    assert no_temp_left(tmp_path)


def test_saved_folder_is_byte_identical(corpus: list[list[str]], tmp_path: Path) -> None:
    expected = in_memory(corpus, 4)
    expected.save(tmp_path / "a")
    folder = train_to_folder(corpus, tmp_path / "built", 4, memory=TINY, temp_dir=tmp_path)
    NgramModel.load(folder).save(tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # the records the bounded build packs itself are np.save's bytes too
    for name in ("ngrams4.npy", "ngrams3.npy", "ngrams1.npy", "header.json"):
        assert (folder / name).read_bytes() == (tmp_path / "a" / name).read_bytes(), name


@pytest.mark.parametrize(
    "kw",
    [
        {"min_count": 2},
        {"max_size": 50},
        {"vocab_words": [f"w{i}" for i in range(0, 300, 2)]},
        {"bos": False, "eos": False},
        {"bos": True, "eos": False},
    ],
)
def test_vocabulary_and_padding_options_match(corpus: list[list[str]], kw: dict,
                                              tmp_path: Path) -> None:
    fb = {"discount_fallback": (0.5, 1.0, 1.5)}  # a small vocabulary leaves no count-1 words
    got = train(corpus, 3, "mkn", memory=TINY, temp_dir=tmp_path, **kw, **fb)
    assert_same(in_memory(corpus, 3, params=fb, **kw), got)


def test_literal_markers_and_fallback_discounts_match(tmp_path: Path) -> None:
    sents = [["a", "<s>", "b"], ["b", "c", "</s>", "a"], ["a", "b"], ["c"]] * 3
    fb = {"discount_fallback": (0.5, 1.0, 1.5)}
    got = train(sents, 3, "mkn", memory=TINY, temp_dir=tmp_path, **fb)
    assert_same(in_memory(sents, 3, params=fb), got)


def test_discount_error_names_the_cli_setting(tmp_path: Path) -> None:
    sents = [["a", "b", "c"]]
    with pytest.raises(ValueError, match=r"--set ngram\.discount_fallback=\[0\.5,1\.0,1\.5\]"):
        train(sents, 3, "mkn", temp_dir=tmp_path)
    with pytest.raises(ValueError, match=r"--set ngram\.discount_fallback=\[0\.5,1\.0,1\.5\]"):
        in_memory(sents, 3)
    assert no_temp_left(tmp_path)  # removed on error too


def test_one_shot_generator_is_read_once(corpus: list[list[str]], tmp_path: Path) -> None:
    reads = []

    def gen():  # noqa: ANN202
        for s in corpus:
            reads.append(1)
            yield s

    got = train(gen(), 3, "mkn", memory=TINY, temp_dir=tmp_path)
    assert len(reads) == len(corpus)
    assert_same(in_memory(corpus, 3), got)


def test_empty_corpora_keep_their_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty corpus"):
        train([], 3, temp_dir=tmp_path)
    with pytest.raises(ValueError, match="no non-empty sentence"):
        train([[], []], 3, temp_dir=tmp_path)
    with pytest.raises(ValueError, match="no non-empty sentence"):
        train([["<s>", "</s>"]], 3, temp_dir=tmp_path)
    assert no_temp_left(tmp_path)


# ---------------------------------------------------------------- budget


@pytest.mark.parametrize("text,expected", [
    ("1G", 1 << 30), ("500M", 500 << 20), ("2.5G", int(2.5 * (1 << 30))), ("64k", 64 << 10),
    ("1GB", 1 << 30), (1 << 20, 1 << 20),
])
def test_parse_memory(text: str | int, expected: int) -> None:
    assert parse_memory(text) == expected


def test_parse_memory_percent_of_ram() -> None:
    from nlpsvc.ngram.memory import physical_memory

    assert parse_memory("50%") == physical_memory() // 2


@pytest.mark.parametrize("bad", ["lots", "-1G", "0%", "150%", "", True])
def test_parse_memory_rejects_nonsense(bad: object) -> None:
    with pytest.raises(BudgetError, match="ngram.memory"):
        parse_memory(bad)  # type: ignore[arg-type]


def test_too_small_budget_names_the_minimum(tmp_path: Path) -> None:
    with pytest.raises(BudgetError, match=r"too small.*64K.*ngram\.memory=64K"):
        train([["a", "b"]], 2, memory="10K", temp_dir=tmp_path)
    with pytest.raises(BudgetError, match="64K"):
        parse_memory(MIN_BUDGET - 1)


# ---------------------------------------------------------------- temp files


def test_unwritable_temp_dir_is_a_clear_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(SpillError, match=r"ngram\.temp_dir .*file"):
        train([["a", "b"]], 2, temp_dir=not_a_dir)
    with pytest.raises(SpillError, match="does not exist"):
        train([["a", "b"]], 2, temp_dir=tmp_path / "missing")


def test_full_disk_is_a_clear_error_and_cleans_up(corpus: list[list[str]], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real = spill_mod.DiskArray.append
    calls = []

    def full(self, values):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, values)

    monkeypatch.setattr(spill_mod.DiskArray, "append", full)
    with pytest.raises(SpillError, match=r"ngram\.temp_dir.*disk is full"):
        train(corpus, 3, memory=TINY, temp_dir=tmp_path)
    assert no_temp_left(tmp_path)


def test_folder_of_a_killed_build_is_removed_at_next_start(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f"{PREFIX}{int(dead.stdout)}-abc"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "run.keys").write_bytes(b"\0" * 64)
    alive = tmp_path / f"{PREFIX}{os.getppid()}-live"  # a running process's folder stays
    alive.mkdir()
    with TempArea(tmp_path) as area:
        assert area.path is not None and area.path.is_dir()
        assert not stale.exists()
        assert alive.exists()
    assert not list(tmp_path.glob(f"{PREFIX}{os.getpid()}-*"))


# ---------------------------------------------------------------- progress


def test_one_log_line_per_stage(corpus: list[list[str]], tmp_path: Path,
                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="nlpsvc.ngram"):
        train(corpus, 3, memory=TINY, temp_dir=tmp_path, progress=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "nlpsvc.ngram"]
    stages = [line.split(":")[1].strip() for line in lines]
    assert stages == ["count", "adjust", "estimate", "write"]
    assert "tokens" in lines[0] and "/s" in lines[0]


# ---------------------------------------------------------------- the pipeline (nlpsvc train)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory, corpus: list[list[str]]) -> Path:
    folder = tmp_path_factory.mktemp("corpus") / "zipf"
    folder.mkdir()
    (folder / "text.txt").write_text("\n".join(" ".join(s) for s in corpus) + "\n", "utf-8")
    (folder / "corpus.toml").write_text('name = "zipf"\n[text]\ntokenizer = "whitespace"\n',
                                        "utf-8")
    return folder


def _train_cli(corpus_dir: Path, out: Path, *sets: str) -> int:
    from nlpsvc.cli import main as cli

    args = ["train", str(corpus_dir), "--only", "ngram", "--out", str(out), "-q",
            "--set", "ngram.order=3"]
    for s in sets:
        args += ["--set", s]
    return cli(args)


def test_cli_budget_spills_and_publishes_the_same_model(corpus_dir: Path, tmp_path: Path) -> None:
    from nlpsvc.artifacts import load_current

    temp = tmp_path / "spill"
    temp.mkdir()
    assert _train_cli(corpus_dir, tmp_path / "a", "ngram.memory=64K",
                      f"ngram.temp_dir={json_str(temp)}") == 0
    assert _train_cli(corpus_dir, tmp_path / "b", "ngram.smoothing=mkn",
                      "ngram.prune=[0,0,0]") == 0  # pruning: the in-memory path
    a = load_current(tmp_path / "a" / "zipf" / "ngram")
    b = load_current(tmp_path / "b" / "zipf" / "ngram")
    assert a.manifest["config"]["ngram"]["memory"] == "64K"
    assert a.manifest["metrics"]["perplexity"] == b.manifest["metrics"]["perplexity"]
    for f in sorted((b.path / "model").iterdir()):
        assert (a.path / "model" / f.name).read_bytes() == f.read_bytes(), f.name
    assert no_temp_left(temp)


def json_str(path: Path) -> str:
    return '"' + str(path) + '"'


@pytest.mark.parametrize("setting,message", [
    ("ngram.memory=10K", "ngram.memory='10K' is too small"),
    ("ngram.memory=lots", "ngram.memory must be a size"),
    ("ngram.discount_fallback=[0.5,1.0]", "ngram.discount_fallback for mkn is [D1, D2, D3+]"),
])
def test_cli_rejects_bad_settings(corpus_dir: Path, tmp_path: Path, setting: str, message: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert _train_cli(corpus_dir, tmp_path / "m", setting) == 1
    assert message in capsys.readouterr().err


def test_cli_unwritable_temp_dir_publishes_nothing(corpus_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from nlpsvc.artifacts import load_current

    out = tmp_path / "m"
    assert _train_cli(corpus_dir, out) == 0
    before = load_current(out / "zipf" / "ngram").path
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    assert _train_cli(corpus_dir, out, f"ngram.temp_dir={json_str(blocker)}") == 1
    assert "ngram.temp_dir" in capsys.readouterr().err
    assert load_current(out / "zipf" / "ngram").path == before  # the previous one still serves


def test_cli_discount_fallback_as_the_error_spells_it(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "train.txt").write_text("a b c\n", "utf-8")
    (folder / "corpus.toml").write_text('name = "tiny"\n', "utf-8")
    assert _train_cli(folder, tmp_path / "m") == 1
    err = capsys.readouterr().err
    hint = err[err.index("--set ") + len("--set "):].split()[0]
    assert hint == "ngram.discount_fallback=[0.5,1.0,1.5]"
    assert _train_cli(folder, tmp_path / "m", hint) == 0


def test_killed_build_leaves_a_folder_the_next_build_removes(tmp_path: Path) -> None:
    import signal
    import time

    script = (
        "import sys, time\n"
        "from nlpsvc.ngram import train\n"
        "def gen():\n"
        "    for i in range(100000):\n"
        "        if i == 5000:\n"
        "            print('spilling', flush=True)\n"
        "            time.sleep(60)\n"
        "        yield ['a', 'b', str(i % 97)]\n"
        f"train(gen(), 3, memory='64K', temp_dir={str(tmp_path)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "spilling"
        left = list(tmp_path.glob(f"{PREFIX}{proc.pid}-*"))
        assert left and any(left[0].iterdir())  # its temp files exist
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    time.sleep(0.05)
    assert list(tmp_path.glob(f"{PREFIX}{proc.pid}-*"))  # a kill cleans nothing up ...
    train([["a", "b"], ["b", "a"]] * 3, 2, temp_dir=tmp_path, discount_fallback=(0.5, 1, 1.5))
    assert no_temp_left(tmp_path)  # ... the next build does


def test_cli_compressed_corpus_streams_to_the_same_model(corpus_dir: Path,
                                                          tmp_path: Path) -> None:
    import gzip

    from nlpsvc.artifacts import load_current

    gz = tmp_path / "gz"
    gz.mkdir()
    with gzip.open(gz / "text.txt.gz", "wb") as f:
        f.write((corpus_dir / "text.txt").read_bytes())
    (gz / "corpus.toml").write_bytes((corpus_dir / "corpus.toml").read_bytes())
    assert _train_cli(corpus_dir, tmp_path / "a", "ngram.memory=64K") == 0
    assert _train_cli(gz, tmp_path / "b", "ngram.memory=64K") == 0
    a = load_current(tmp_path / "a" / "zipf" / "ngram").path / "model"
    b = load_current(tmp_path / "b" / "zipf" / "ngram").path / "model"
    for f in sorted(a.iterdir()):
        assert (b / f.name).read_bytes() == f.read_bytes(), f.name


def test_stage_lines_reach_stderr_when_logging_is_quiet(corpus: list[list[str]], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    logger = logging.getLogger("nlpsvc.ngram")
    old = logger.level
    logger.setLevel(logging.WARNING)
    try:
        train(corpus, 3, temp_dir=tmp_path, progress=True)
        train(corpus, 3, temp_dir=tmp_path, progress=False)
    finally:
        logger.setLevel(old)
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("ngram: ")]
    assert [x.split(":")[1].strip() for x in lines] == ["count", "adjust", "estimate", "write"]


def test_kn_discount_error_names_the_cli_settings(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=r"--set ngram\.discount_fallback=0\.7"):
        train([["a", "b"]] * 3, 2, "kn")
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "train.txt").write_text("a b\na b\na b\n", "utf-8")
    (folder / "corpus.toml").write_text('name = "tiny"\n', "utf-8")
    assert _train_cli(folder, tmp_path / "m", "ngram.smoothing=kn", "ngram.order=2") == 1
    assert "--set ngram.discount_fallback=0.7" in capsys.readouterr().err
    assert _train_cli(folder, tmp_path / "m", "ngram.smoothing=kn", "ngram.order=2",
                      "ngram.discount_fallback=0.7") == 0
