"""Scale-out on Dask (issue 11): 1M-line batch scoring and the 13.2M-token n-gram count.

Scoring: PTB test repeated to >= 1M lines (as ``bench.batch``), a 3-gram mkn of PTB train;
``nlpsvc score`` as a subprocess with ``--jobs 1``, ``--jobs 2`` (joblib), ``--backend dask
--jobs 2`` (a LocalCluster it starts itself) and ``--backend dask --scheduler`` (a ``dask
scheduler`` plus ``dask worker --nworkers 2`` started here, over TCP); every output is checked
byte-identical to ``--jobs 1``. The client's own costs (planning the partitions, concatenating
the parts) are timed in-process for the projection.

Counting: ``make_big_corpus.py`` (13.2M tokens; ``NLPSVC_BENCH_BIG=DIR`` reuses one), order 5,
``nlpsvc train`` locally and with ``--backend dask --jobs 2``; the published model folders are
compared byte for byte; the Dask build's log gives its encode / count / merge split.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.batch import PTB, make_input
from bench.report import publish, table

ROOT = Path(__file__).resolve().parent.parent
MAKE_BIG = ROOT.parent / "shared" / "tools" / "make_big_corpus.py"
NLPSVC = [sys.executable, "-m", "nlpsvc.cli"]
COMMAND = "flock /tmp/nlpsvc-bench.lock .venv/bin/python -m bench.run --only dask"
ENV = dict(os.environ, OMP_NUM_THREADS="1")
ROUNDS = 2  # scoring runs per setting (the machine is shared: the faster one is kept)


CPU: dict[str, float] = {}  # CPU seconds of the last ``_wall`` command, by run name


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _wall(cmd: list[str], cluster: Cluster | None = None) -> tuple[float, str]:
    """(wall s, stderr) of a command; its CPU seconds (its process tree, and the external
    cluster's processes if given) in ``CPU["last"]``: unlike wall time on a shared machine,
    CPU time is what the run itself cost."""
    c0, k0 = _children_cpu(), cluster.cpu() if cluster else 0.0
    t0 = time.monotonic()
    res = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if res.returncode:
        raise RuntimeError(f"{' '.join(cmd[2:5])} failed: {res.stderr[-800:]}")
    CPU["last"] = _children_cpu() - c0 + ((cluster.cpu() - k0) if cluster else 0.0)
    return wall, res.stderr


class Cluster:
    """``dask scheduler`` + ``dask worker --nworkers 2 --nthreads 1`` on localhost (TCP)."""

    def __init__(self, folder: Path) -> None:
        self.file = folder / "scheduler.json"
        dask = [sys.executable, "-m", "dask"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port",
                                        "0", "--no-dashboard", "--scheduler-file",
                                        str(self.file)], **quiet)]
        while not self.file.exists():
            time.sleep(0.1)
        self.procs.append(subprocess.Popen(
            [*dask, "worker", "--scheduler-file", str(self.file), "--nworkers", "2",
             "--nthreads", "1", "--no-dashboard", "--local-directory", str(folder)], **quiet))
        from distributed import Client

        with Client(scheduler_file=str(self.file), timeout=30) as c:
            c.wait_for_workers(2, timeout=60)
        self.address = json.loads(self.file.read_text())["address"]

    def cores(self, tasks: int = 8, seconds: float = 0.25) -> float:
        """Cores the workers really get now: CPU-bound tasks' total time over their wall time
        (2.0 on an idle 2-core machine; less when other work holds a core)."""
        from distributed import Client

        def busy(_: int) -> None:
            t = time.process_time()
            while time.process_time() - t < seconds:
                pass

        with Client(self.address, timeout=30) as c:
            t0 = time.perf_counter()
            c.gather([c.submit(busy, i, pure=False) for i in range(tasks)])
            return tasks * seconds / (time.perf_counter() - t0)

    def cpu(self) -> float:
        """CPU seconds used so far by the scheduler and worker processes."""
        import psutil

        total = 0.0
        for p in self.procs:
            try:
                proc = psutil.Process(p.pid)
                for q in [proc, *proc.children(recursive=True)]:
                    t = q.cpu_times()
                    total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def close(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
            p.wait(timeout=30)


def bench_scoring(tmp: Path) -> dict[str, Any]:
    from nlpsvc.cli import main as cli

    assert cli(["train", str(PTB), "--only", "ngram", "--out", str(tmp / "models"), "-q",
                "--set", "text.tokenizer=whitespace"]) == 0
    models = tmp / "models" / "ptb"
    inp = tmp / "ptb-test-x.txt"
    n = make_input(inp)
    base = [*NLPSVC, "score", "--models", str(models), "--input", str(inp), "-q"]
    ref = tmp / "jobs1.jsonl"
    out = str(tmp / "o.jsonl")
    tcp_name = "dask scheduler + 2 workers (TCP)"
    configs = {"jobs 1": ["--output", str(ref)],
               "jobs 2 (joblib)": ["--output", out, "--jobs", "2"],
               "dask LocalCluster, 2 workers": ["--output", out, "--backend", "dask", "--jobs",
                                                "2"],
               tcp_name: ["--output", out, "--backend", "dask", "--scheduler"]}
    runs: dict[str, float] = {}
    cpu: dict[str, float] = {}
    same: list[bool] = []
    cluster = Cluster(tmp)
    try:
        cores = cluster.cores()
        for round_ in range(ROUNDS):  # alternating rounds; the best of each kept
            for name, args in configs.items():
                extra = [cluster.address] if name == tcp_name else []
                sec, _ = _wall([*base, *args, *extra], cluster if name == tcp_name else None)
                if name not in runs or sec < runs[name]:
                    runs[name], cpu[name] = sec, CPU["last"]
                if round_ == 0 and name != "jobs 1":
                    same.append(filecmp.cmp(ref, out, shallow=False))
    finally:
        cluster.close()
    # the client's share: one planning pass over the input, one copy of the output
    from nlpsvc.dask.inputs import plan_input

    t0 = time.perf_counter()
    plan = plan_input(str(inp), None, 2000, 50_000)
    plan_s = time.perf_counter() - t0
    out_bytes = ref.stat().st_size
    t0 = time.perf_counter()
    with open(ref, "rb") as src, open(tmp / "copy.jsonl", "wb") as dst:
        while block := src.read(1 << 20):
            dst.write(block)
    concat_s = time.perf_counter() - t0
    joblib, local = runs["jobs 2 (joblib)"], runs["dask LocalCluster, 2 workers"]
    tcp = runs[tcp_name]
    return {"lines": n, "runs": runs, "cpu": cpu, "identical": all(same), "plan_s": plan_s,
            "cpu_overhead_local": cpu["dask LocalCluster, 2 workers"] / cpu["jobs 2 (joblib)"]
            - 1, "cpu_overhead_tcp": cpu[tcp_name] / cpu["jobs 2 (joblib)"] - 1,
            "load": os.getloadavg()[0], "cores": cores,
            "partitions": len(plan.parts), "out_bytes": out_bytes, "concat_s": concat_s,
            "in_bytes": inp.stat().st_size, "overhead_local": local / joblib - 1,
            "overhead_tcp": tcp / joblib - 1, "rounds": ROUNDS}


def scoring_text(facts: dict[str, Any]) -> str:
    n, runs, cpu = facts["lines"], facts["runs"], facts["cpu"]
    in_mb = facts["in_bytes"] / 2**20
    rows = [[name, f"{n:,}", f"{sec:.1f}", f"{n / sec:,.0f}", f"{cpu[name]:.1f}"]
            for name, sec in runs.items()]
    return (
        f"`nlpsvc score` of PTB test repeated to {n:,} lines "
        f"({in_mb:.0f} MB in, {facts['out_bytes'] / 2**20:.0f} MB out), 3-gram mkn "
        "of PTB train, chunks of 2,000 lines, Dask partitions of 25 chunks "
        f"({facts['partitions']} partitions). Wall time of the whole command (interpreter, "
        "model load, the LocalCluster's start-up where it starts one), the faster of "
        f"{facts['rounds']} alternating runs, and the CPU time of that run (all its processes, "
        "the TCP cluster's included); every Dask output is "
        f"byte-identical to `--jobs 1`: **{facts['identical']}**. Load average after the runs: "
        f"{facts['load']:.1f}; CPU-bound tasks on the 2 workers got {facts['cores']:.1f} cores "
        "when measured before the runs (other work shares the 2 cores: two workers cannot show "
        "their speed-up then, and the figures are noisy).\n\n"
        + table(["run", "lines", "wall s", "lines/s", "CPU s (all processes)"], rows)
        + f"\n\nDask's overhead against joblib (`--jobs 2`) on one machine, in wall time: "
        f"LocalCluster **{facts['overhead_local']:+.0%}** (its start-up included), scheduler "
        f"+ workers over TCP **{facts['overhead_tcp']:+.0%}**; in CPU time, which other work "
        f"on the machine does not inflate: LocalCluster "
        f"**{facts['cpu_overhead_local']:+.0%}**, TCP **{facts['cpu_overhead_tcp']:+.0%}** "
        "(goal ≤ 15%). Client-side costs measured alone: "
        f"planning the partitions {facts['plan_s']:.2f} s "
        f"({in_mb / facts['plan_s']:,.0f} MB/s), concatenating the parts "
        f"{facts['concat_s']:.2f} s."
    )


def bench_count(tmp: Path) -> dict[str, Any]:
    given = os.environ.get("NLPSVC_BENCH_BIG")
    if given and (Path(given) / "train.txt").exists():
        big = Path(given)
    else:
        big = tmp / "big"
        subprocess.run([sys.executable, str(MAKE_BIG), str(big)], check=True,
                       capture_output=True)
    corpus = tmp / "corpus"
    corpus.mkdir()
    (corpus / "train.txt").symlink_to(big / "train.txt")
    ntok = sum(len(line.split()) for line in open(big / "train.txt", encoding="utf-8"))
    sets = ["--set", "text.tokenizer=whitespace", "--set", "text.lowercase=false", "--set",
            "text.normalize=", "--set", "ngram.order=5", "--set", f"ngram.temp_dir={tmp}"]
    base = [*NLPSVC, "-v", "train", str(corpus), "--only", "ngram", "-q", *sets]
    local_s, local_log = _wall([*base, "--out", str(tmp / "local")])
    local_cpu = CPU["last"]
    dask_s, log = _wall([*base, "--out", str(tmp / "dask"), "--backend", "dask", "--jobs", "2"])
    dask_cpu = CPU["last"]
    m = re.search(r"ngram: dask: (\d+) partitions: encode ([\d.]+) s, count ([\d.]+) s on the "
                  r"workers, merge ([\d.]+) s on the client", log)
    parts, encode_s, count_s, merge_s = (int(m.group(1)), *map(float, m.groups()[1:]))
    local, dist = _stages(local_log), _stages(log)
    (a,) = (tmp / "local").rglob("header.json")
    (b,) = (tmp / "dask").rglob("header.json")
    names = sorted(p.name for p in a.parent.iterdir())
    identical = names == sorted(p.name for p in b.parent.iterdir()) and all(
        filecmp.cmp(a.parent / x, b.parent / x, shallow=False) for x in names)
    est = dist.get("adjust", 0) + dist.get("estimate", 0)
    return {"tokens": ntok, "local_s": local_s, "dask_s": dask_s, "partitions": parts,
            "encode_s": encode_s, "count_s": count_s, "merge_s": merge_s,
            "identical": identical, "estimate_s": est, "write_s": dist.get("write", 0.0),
            "local_stages": local, "load": os.getloadavg()[0], "local_cpu": local_cpu,
            "dask_cpu": dask_cpu}


def count_text(c: dict[str, Any]) -> str:
    local = c["local_stages"]
    rows = [["local (bounded build, 1G)", f"{c['local_s']:.1f}", f"{c['local_cpu']:.1f}",
             f"{local.get('count', 0):.1f}",
             "", f"{local.get('adjust', 0) + local.get('estimate', 0):.1f}",
             f"{local.get('write', 0):.1f}"],
            ["dask LocalCluster, 2 workers", f"{c['dask_s']:.1f}", f"{c['dask_cpu']:.1f}",
             f"{c['encode_s']:.1f} + {c['count_s']:.1f}", f"{c['merge_s']:.1f}",
             f"{c['estimate_s']:.1f}", f"{c['write_s']:.1f}"]]
    return (
        f"`nlpsvc train CORPUS --only ngram --set ngram.order=5` of `make_big_corpus.py`'s "
        f"{c['tokens'] / 1e6:.1f}M tokens (whitespace tokens), whole command wall time, locally "
        f"and with `--backend dask --jobs 2` ({c['partitions']} partitions; the LocalCluster's "
        "start-up included). Stage times from the builds' logs: count (Dask: encode = read, "
        "tokenize, ids + count = orders 2..5, both on the workers, waiting on the slowest "
        "partition of each order), merge (Dask: the partitions' runs, on the client), estimate "
        "(adjust + estimate, client), write (header and hash tables, client). Published model "
        f"folders byte-identical: **{c['identical']}**.\n\n"
        + table(["build", "wall s", "CPU s", "count s", "merge s", "estimate s", "write s"],
                rows)
    )


def _stages(log: str) -> dict[str, float]:
    """Seconds of each stage line an n-gram build logged (``-v``)."""
    return {k: float(v) for k, v in re.findall(
        r"ngram: (count|adjust|estimate|write): \d+ [\w-]+ in ([\d.]+) s", log)}


def projection(s: dict, c: dict) -> str:
    """1B lines on 32 workers and a 10B-token count, scaled linearly from the measured rates;
    the bottleneck named is the largest serial part."""
    n, tcp = s["lines"], s["runs"]["dask scheduler + 2 workers (TCP)"]
    # lines/s of a worker with a core of its own: the TCP run's rate over the cores its two
    # workers got (client costs and start-up included)
    per_worker = n / tcp / min(2.0, max(s["cores"], 0.5))
    lines = 1e9
    k = lines / n
    score = {
        "the workers' scoring (32 of them)": lines / (per_worker * 32),
        "planning the partitions on the client": s["plan_s"] * k,
        "concatenating the parts on the client": s["concat_s"] * k,
    }
    receive = s["out_bytes"] * k / 1.25e9  # without a shared parts folder, 10 Gbit/s
    scale = 10e9 / c["tokens"]
    count = {
        "encode + count on the workers (32 of them)": (c["encode_s"] + c["count_s"])
        * min(2.0, max(s["cores"], 0.5)) * scale / 32,  # core-seconds, spread
        "merging the partitions' runs on the client": c["merge_s"] * scale,
        "estimation on the client": c["estimate_s"] * scale,
        "writing the model (hash tables) on the client": c["write_s"] * scale,
    }

    def listing(parts: dict[str, float]) -> str:
        return "; ".join(f"{name} ~{sec / 60:,.0f} min" for name, sec in parts.items())

    score_top = max(score, key=score.get)
    ratio = s["out_bytes"] / s["in_bytes"]
    serial = sum(v for name, v in score.items() if "client" in name)
    client_top = max((name for name in score if "client" in name), key=score.get)
    breakeven = score["the workers' scoring (32 of them)"] * 32 / serial
    client = sum(v for name, v in count.items() if "client" in name)
    return (
        f"**Projection** (linear in the input, from the rates measured above on a loaded "
        f"2-core machine, load average {c['load']:.1f}; the two workers got "
        f"{s['cores']:.1f} cores). Scoring 1B lines on 32 workers, each with a core "
        f"({per_worker:,.0f} lines/s per core: the TCP run's rate over the cores its workers "
        f"got): {listing(score)}. The "
        f"largest part is {score_top}. The client's parts (~{serial / 60:,.0f} min) are "
        "serial and grow with the input while the scoring spreads: beyond ~"
        f"{breakeven:,.0f} workers they are the bottleneck, the largest being {client_top} "
        f"(the JSON output is ~{ratio:.1f}× the input). That is with the parts folder on "
        "shared storage, where the workers write their parts; without it the parts also cross "
        f"the client's network link (~{receive / 60:,.0f} min at 10 Gbit/s), which then "
        "dominates. What removes the rest: keep the output as the folder of parts (or "
        "concatenate on the storage side) instead of copying it through the client, and plan "
        "the partitions from per-block line counts made on the workers.\n\n"
        f"Counting 10B tokens ({scale:.0f}× the measured corpus) on 32 workers: "
        f"{listing(count)}. The client's share (~{client / 60:,.0f} min: merge, estimation, "
        "writing) is the bottleneck - it does not spread, and estimation's per-order arrays "
        "grow with the model. Also superlinear: each partition locates its n-grams in the "
        "merged order by a pass over it (partitions × n-grams read per order). What removes "
        "them: range-partition the n-gram keys so that each worker merges, ranks and "
        "estimates one key range (a shuffle instead of one k-way merge; the discounts' "
        "count-of-counts reduced first), and write the hash tables per range. The network "
        "carries each sorted run once (through the shared ngram.temp_dir)."
    )


def render(results: dict[str, Any]) -> str:
    """The section from the stored results (``publish`` and ``--render``)."""
    s, c = results["scoring"], results["count"]
    return ("### 1M-line batch scoring\n\n" + scoring_text(s)
            + "\n\n### 13.2M-token n-gram count\n\n" + count_text(c) + "\n\n" + projection(s, c))


def main() -> None:
    tmp_root = os.environ.get("TMPDIR") or tempfile.gettempdir()
    with tempfile.TemporaryDirectory(prefix="nlpsvc-bench-dask-", dir=tmp_root) as name:
        tmp = Path(name)
        (tmp / "score").mkdir()
        (tmp / "count").mkdir()
        results = {"scoring": bench_scoring(tmp / "score"), "count": bench_count(tmp / "count")}
    publish("dask", "Scaling out (Dask)", results, render, COMMAND)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
