"""Offline batch scoring: order, bad lines, formats, --resume, flat memory."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nlpsvc.batch as batch
from nlpsvc.batch import BatchError, score_file
from nlpsvc.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]


def sentences(n: int) -> list[str]:
    words = ["alice", "the", "queen", "said", "rabbit", "very", "tired", "of", "a", "hatter"]
    return [" ".join(words[(i * k) % len(words)] for k in range(1, 3 + i % 7)) + f" {i}"
            for i in range(n)]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_order_preserved_with_two_jobs(models_root: Path, tmp_path: Path) -> None:
    texts = sentences(3000)
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(texts) + "\n", encoding="utf-8")
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    s1 = score_file(models_root, inp, one, jobs=1, chunk_size=128, progress=False)
    s2 = score_file(models_root, inp, two, jobs=2, chunk_size=128, progress=False)
    assert s1["lines"] == s2["lines"] == 3000 and s1["errors"] == 0
    assert one.read_bytes() == two.read_bytes()
    rows = read_jsonl(two)
    assert [r["text"] for r in rows] == texts
    assert all(r["log10_prob"] < 0 and r["tokens"] > 0 for r in rows)
    assert not (tmp_path / "two.jsonl.partial").exists()
    assert not (tmp_path / "two.jsonl.progress").exists()


def test_bad_lines_are_reported_not_dropped(models_root: Path, tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"text": "the queen said"}).encode(),
        b'{"text": "broken',
        json.dumps({"txt": "no text field"}).encode(),
        json.dumps({"text": 42}).encode(),
        b'{"text": "bad \xff byte"}',
        json.dumps({"text": "alice was tired", "id": 7}).encode(),
    ]
    inp.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    stats = score_file(models_root, inp, out, progress=False, chunk_size=2)
    rows = read_jsonl(out)
    assert len(rows) == 6 and stats["errors"] == 4
    assert [("error" in r) for r in rows] == [False, True, True, True, True, False]
    assert rows[0]["text"] == "the queen said" and rows[5]["text"] == "alice was tired"
    assert "invalid JSON" in rows[1]["error"] and "UTF-8" in rows[4]["error"]
    # plain text: a bad byte spoils its own line only
    txt = tmp_path / "in.txt"
    txt.write_bytes(b"good line\nbad \xfe line\n\nlast\n")
    score_file(models_root, txt, out, progress=False)
    rows = read_jsonl(out)
    assert [("error" in r) for r in rows] == [False, True, False, False]
    assert rows[2]["text"] == ""  # an empty line is scored (just the sentence end)


def test_csv_tsv_and_cli(models_root: Path, tmp_path: Path) -> None:
    inp = tmp_path / "in.csv"
    with open(inp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "sentence"])
        w.writerows([[1, "the queen, she said"], [2, 'a "quoted"\nmultiline text']])
    out = tmp_path / "out.jsonl"
    with pytest.raises(BatchError, match="no column 'text'"):
        score_file(models_root, inp, out, progress=False)
    code = cli(["score", "--models", str(models_root), "--input", str(inp), "--output",
                str(out), "--column", "sentence", "--jobs", "2", "--per-token", "-q"])
    assert code == 0
    rows = read_jsonl(out)
    assert [r["text"] for r in rows] == ["the queen, she said", 'a "quoted"\nmultiline text']
    assert rows[0]["per_token"][0]["token"] == "the"
    tsv = tmp_path / "in.tsv"
    tsv.write_text("text\tx\nthe queen\t1\n", encoding="utf-8")
    assert cli(["score", "--models", str(models_root / "mini"), "--input", str(tsv),
                "--output", str(out), "-q"]) == 0
    assert read_jsonl(out)[0]["text"] == "the queen"
    assert cli(["score", "--models", str(models_root), "--input", str(tsv), "--output",
                str(out), "--kind", "lstm", "-q"]) == 1  # no such model: one-line error
    assert cli(["score", "--models", str(models_root), "--input", str(tsv), "--output",
                str(out), "--scheduler", "tcp://127.0.0.1:8786", "-q"]) == 1  # needs dask


def test_resume_after_interruption_matches_clean_run(
    models_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(sentences(1000)) + "\n", encoding="utf-8")
    clean = tmp_path / "clean.jsonl"
    score_file(models_root, inp, clean, chunk_size=64, progress=False)

    out = tmp_path / "out.jsonl"
    real, calls = batch.score_chunk, {"n": 0}

    def interrupted(spec, records):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the run
        return real(spec, records)

    monkeypatch.setattr(batch, "score_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        score_file(models_root, inp, out, chunk_size=64, progress=False)
    monkeypatch.setattr(batch, "score_chunk", real)
    partial = tmp_path / "out.jsonl.partial"
    assert not out.exists() and partial.exists()
    state = json.loads((tmp_path / "out.jsonl.progress").read_text())
    assert state["lines"] == 5 * 64
    with open(partial, "ab") as f:  # a crash mid-write leaves a torn line after the checkpoint
        f.write(b'{"text": "torn')
    stats = score_file(models_root, inp, out, chunk_size=64, progress=False, resume=True)
    assert stats["resumed_from"] == 320
    assert out.read_bytes() == clean.read_bytes()
    # a checkpoint from another input is refused, not silently mixed in
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(batch, "score_chunk", interrupted)
        calls["n"] = 0
        score_file(models_root, inp, out, chunk_size=64, progress=False)
    monkeypatch.setattr(batch, "score_chunk", real)
    inp.write_text("\n".join(sentences(1001)) + "\n", encoding="utf-8")
    with pytest.raises(BatchError, match="another input"):
        score_file(models_root, inp, out, chunk_size=64, progress=False, resume=True)


_RSS_SCRIPT = """
import resource, sys
from nlpsvc.batch import score_file
score_file(sys.argv[1], sys.argv[2], sys.argv[3], jobs=1, chunk_size=2000, progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_rss_kb(models: Path, inp: Path, out: Path) -> int:
    proc = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(models), str(inp), str(out)],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return int(proc.stdout.strip().splitlines()[-1])


def test_memory_flat_with_input_size(models_root: Path, tmp_path: Path) -> None:
    base = sentences(2000)
    small, large = tmp_path / "small.txt", tmp_path / "large.txt"
    small.write_text("\n".join(base[:1000]) + "\n", encoding="utf-8")
    with open(large, "w", encoding="utf-8") as f:
        for _ in range(100):  # 200k lines, ~8 MB of input, ~25 MB of output
            f.write("\n".join(base) + "\n")
    rss_small = _peak_rss_kb(models_root, small, tmp_path / "s.jsonl")
    rss_large = _peak_rss_kb(models_root, large, tmp_path / "l.jsonl")
    assert sum(1 for _ in open(tmp_path / "l.jsonl", encoding="utf-8")) == 200_000
    # Holding the input or the output in memory would add well over 30 MB.
    assert rss_large - rss_small < 30_000, (rss_small, rss_large)


def _children(pid: int) -> set[int]:
    """Live child processes of ``pid`` (from /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc (Linux)")
def test_workers_exit_when_the_scoring_process_is_killed(models_root: Path,
                                                         tmp_path: Path) -> None:
    """Issue 14: after ``kill -9`` of ``nlpsvc score --jobs 2`` its loky workers lived on."""

    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(sentences(3000) * 100) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nlpsvc.cli", "score", "--models", str(models_root), "--input",
         str(inp), "--output", str(out), "--jobs", "2", "--chunk-size", "64"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while len(workers := _children(proc.pid)) < 2:
            assert proc.poll() is None, "finished before its workers were seen"
            assert time.monotonic() < deadline, "no worker processes in 60 s"
            time.sleep(0.05)
        time.sleep(0.3)  # let them take work
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not out.exists(), "the job finished before it was killed"
        deadline = time.monotonic() + 10
        while alive := {p for p in workers if _alive(p)}:
            assert time.monotonic() < deadline, f"workers {alive} outlived their parent by 10 s"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in workers:  # on failure: no process may outlive the test
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_a_second_run_on_the_same_output_is_refused(models_root: Path, tmp_path: Path) -> None:
    """Issue 14: two runs on one output collided; the second crashed, leaving a stale
    ``.progress``. While a run holds the output, another is refused and touches nothing."""
    from nlpsvc.locks import exclusive

    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(sentences(50)) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with exclusive(tmp_path / "out.jsonl.lock"):  # as a running `nlpsvc score` holds it
        with pytest.raises(BatchError, match=r"being written by another nlpsvc score "
                                             rf"\(process {os.getpid()}\)"):
            score_file(models_root, inp, out, progress=False)
        for resume in ([], ["--resume"]):
            assert cli(["score", "--models", str(models_root), "--input", str(inp),
                        "--output", str(out), "-q", *resume]) == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.jsonl.lock"]
    with pytest.raises(BatchError, match="no such folder for the output"):
        score_file(models_root, inp, tmp_path / "nowhere" / "out.jsonl", progress=False)
    # the lock dies with its holder: the next run goes ahead and leaves no lock behind
    assert score_file(models_root, inp, out, progress=False)["lines"] == 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.jsonl"]


def test_a_lock_left_by_a_killed_run_does_not_block(models_root: Path, tmp_path: Path) -> None:
    inp = tmp_path / "in.txt"
    inp.write_text("the queen\n", encoding="utf-8")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from nlpsvc.locks import exclusive\n"
        "with exclusive(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)"),
        str(tmp_path / "out.jsonl.lock")], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(BatchError, match=f"process {holder.pid}"):
            score_file(models_root, inp, tmp_path / "out.jsonl", progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / "out.jsonl.lock").exists()  # killed: no clean-up ran
    assert score_file(models_root, inp, tmp_path / "out.jsonl", progress=False)["lines"] == 1
