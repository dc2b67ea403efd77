"""Batch scoring throughput (SPEC §5): PTB test repeated to >= 1M lines, --jobs 1 and 2.

Runs ``nlpsvc score`` as a subprocess per setting and samples the whole process tree's RSS
(parent and joblib workers) with psutil every 0.1 s; time to first output is when the
``.partial`` output file first holds a complete line.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.report import publish, table

ROOT = Path(__file__).resolve().parent.parent
PTB = ROOT.parent / "shared" / "data" / "ptb"
TARGET_LINES = 1_000_000


def make_input(path: Path) -> int:
    lines = (PTB / "ptb.test.txt").read_text(encoding="utf-8").splitlines()
    reps = -(-TARGET_LINES // len(lines))
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(reps):
            f.write("\n".join(lines) + "\n")
    return reps * len(lines)


def run(models: Path, inp: Path, out: Path, jobs: int) -> dict[str, float]:
    cmd = [sys.executable, "-m", "nlpsvc.cli", "score", "--models", str(models), "--input",
           str(inp), "--output", str(out), "--jobs", str(jobs), "-q"]
    partial = out.with_name(out.name + ".partial")
    t0 = time.monotonic()
    proc = psutil.Popen(cmd, cwd=ROOT)
    peak, first = 0, None
    while proc.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        if first is None and partial.exists() and partial.stat().st_size > 0:
            first = time.monotonic() - t0
        time.sleep(0.1)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"nlpsvc score --jobs {jobs} failed ({proc.returncode})")
    return {"seconds": wall, "peak_rss_mb": peak / 2**20, "first_s": first or wall}


COMMAND = "flock /tmp/nlpsvc-bench.lock python -m bench.run --only batch"


def render(results: dict[str, Any]) -> str:
    """The section from the stored results (``publish`` and ``--render``)."""
    n, runs = results["lines"], results["runs"]
    rows = [[r["jobs"], f"{n:,}", f"{r['seconds']:.1f}", f"{n / r['seconds']:,.0f}",
             f"{r['peak_rss_mb']:.0f}", f"{r['first_s']:.2f}"] for r in runs]
    by_jobs = {r["jobs"]: r["seconds"] for r in runs}
    return (
        f"`nlpsvc score --models models/ptb --input ptb.test.txt×{results['repeats']} "
        f"--output out.jsonl --jobs N`: PTB test repeated to {n:,} lines "
        f"({results['input_mb']:.0f} MB), 3-gram mkn trained on "
        "PTB train (whitespace tokenizer), default chunk of 2,000 lines. Peak RSS is the sum "
        "over the process tree (parent + joblib workers), sampled every 0.1 s; first output = "
        "first bytes in the `.partial` file (includes interpreter start and model load).\n\n"
        + table(["jobs", "lines", "wall s", "sentences/s", "peak RSS MB", "first output s"],
                rows)
        + f"\n\nSpeed-up with 2 jobs: {by_jobs[1] / by_jobs[2]:.2f}× on "
        "2 cores shared with other work."
    )


def main() -> None:
    from nlpsvc.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        assert cli(["train", str(PTB), "--only", "ngram", "--out", str(tmp_path / "models"),
                    "-q", "--set", "text.tokenizer=whitespace"]) == 0
        inp = tmp_path / "ptb-test-x.txt"
        n = make_input(inp)
        runs = []
        for jobs in (1, 2):
            out = tmp_path / f"out{jobs}.jsonl"
            r = run(tmp_path / "models" / "ptb", inp, out, jobs)
            with open(out, "rb") as f:
                count = sum(1 for _ in f)
            assert count == n, (count, n)
            runs.append({"jobs": jobs, **r})
        results = {"lines": n, "repeats": n // 3761, "input_mb": inp.stat().st_size / 2**20,
                   "runs": runs}
    publish("batch", "Batch scoring: 1M lines", results, render, COMMAND)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
