"""nlpsvc score --backend dask: byte-identical to --jobs 1, worker death, resume, bad input."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nlpsvc.batch import BatchError, read_records, score_file
from nlpsvc.cli import main as cli
from nlpsvc.dask.cluster import ClusterError, check_readable
from nlpsvc.dask.inputs import plan_input, range_lines, read_header
from nlpsvc.locks import exclusive
from tests.scaleout import worker_patches

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["alice", "the", "queen", "said", "rabbit", "very", "tired", "of", "a", "hatter"]


def texts(n: int) -> list[str]:
    return [" ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 3 + i % 7)) + f" {i}"
            for i in range(n)]


def write_inputs(folder: Path, n: int = 120) -> dict[str, Path]:
    """The same records as .txt (a bad byte, a BOM, no final newline), .jsonl (bad records)
    and .csv (quoted fields over several lines)."""
    t = texts(n)
    txt = folder / "in.txt"
    body = "\n".join(t).encode()
    txt.write_bytes(b"\xef\xbb\xbf" + body.replace(b" 7\n", b" \xff 7\n", 1))
    jsonl = folder / "in.jsonl"
    rows = [json.dumps({"text": x}) for x in t]
    rows[5], rows[30], rows[31] = '{"text": "broken', '{"txt": 1}', '{"text": 42}'
    jsonl.write_text("\n".join(rows) + "\n", encoding="utf-8")
    csv_path = folder / "in.csv"
    lines = ["id,text"] + [f'{i},"{x}"' if i % 9 else f'{i},"{x},\nsecond line"'
                           for i, x in enumerate(t)]
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"txt": txt, "jsonl": jsonl, "csv": csv_path}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture
def workers(client: Any) -> Any:
    """The shared cluster with both workers up and unpatched, before and after the test."""
    client.wait_for_workers(2, timeout=60)
    client.run(worker_patches.restore)
    yield client
    client.wait_for_workers(2, timeout=60)
    client.run(worker_patches.restore)


@pytest.mark.parametrize("fmt", ["txt", "jsonl", "csv"])
def test_plan_partitions_read_back_as_the_whole_file(inputs: dict[str, Path], fmt: str) -> None:
    path = str(inputs[fmt])
    plan = plan_input(path, None, chunk_size=4, part_records=10)
    assert all(p.records == 12 for p in plan.parts[:-1]) and len(plan.parts) == 10
    header = read_header(path, plan.fmt, plan.header_end)
    from nlpsvc.batch import records_of_lines

    got = [r for p in plan.parts
           for r in records_of_lines(range_lines(path, p.start, p.end), plan.fmt, None, path,
                                     header=header)]
    assert got == list(read_records(path))


@pytest.mark.parametrize("fmt", ["txt", "jsonl", "csv"])
def test_output_is_byte_identical_to_jobs_1(workers: Any, cluster: Any, dask_models: Path,
                                            inputs: dict[str, Path], tmp_path: Path,
                                            fmt: str) -> None:
    one, dk = tmp_path / "one.jsonl", tmp_path / "dask.jsonl"
    per_token = fmt == "jsonl"
    s1 = score_file(dask_models, inputs[fmt], one, chunk_size=7, per_token=per_token,
                    progress=False)
    s2 = score_file(dask_models, inputs[fmt], dk, chunk_size=7, per_token=per_token,
                    progress=False, backend="dask", scheduler=cluster.scheduler_address,
                    partition_lines=20)
    assert one.read_bytes() == dk.read_bytes()
    assert s1["lines"] == s2["lines"] == 120 and s1["errors"] == s2["errors"]
    assert s2["partitions"] == 6
    assert not (tmp_path / "dask.jsonl.parts").exists()
    assert not (tmp_path / "dask.jsonl.partial").exists()


def test_cli_starts_a_local_cluster(dask_models: Path, inputs: dict[str, Path],
                                    tmp_path: Path) -> None:
    one, dk = tmp_path / "one.jsonl", tmp_path / "dask.jsonl"
    base = ["score", "--models", str(dask_models), "--input", str(inputs["txt"]), "-q"]
    assert cli([*base, "--output", str(one)]) == 0
    assert cli([*base, "--output", str(dk), "--backend", "dask", "--jobs", "2",
                "--partition-lines", "25"]) == 0
    assert one.read_bytes() == dk.read_bytes()


def test_a_killed_worker_still_gives_the_whole_output(workers: Any, cluster: Any,
                                                      dask_models: Path,
                                                      inputs: dict[str, Path],
                                                      tmp_path: Path) -> None:
    marker = tmp_path / "killed"
    pids = set(workers.run(os.getpid).values())
    workers.run(worker_patches.kill_first_task, str(marker))
    one, dk = tmp_path / "one.jsonl", tmp_path / "dask.jsonl"
    score_file(dask_models, inputs["jsonl"], one, chunk_size=5, progress=False)
    stats = score_file(dask_models, inputs["jsonl"], dk, chunk_size=5, progress=False,
                       backend="dask", scheduler=cluster.scheduler_address,
                       partition_lines=10)
    assert marker.exists()  # a worker did die mid-job ...
    assert stats["partitions"] == 12
    assert one.read_bytes() == dk.read_bytes()  # ... and its tasks ran again elsewhere
    workers.wait_for_workers(2, timeout=60)
    assert set(workers.run(os.getpid).values()) != pids  # the nanny started a new one


def test_resume_after_the_client_is_killed(workers: Any, cluster: Any, dask_models: Path,
                                           tmp_path: Path) -> None:
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(texts(200)) + "\n", encoding="utf-8")
    clean, out = tmp_path / "clean.jsonl", tmp_path / "out.jsonl"
    score_file(dask_models, inp, clean, chunk_size=10, progress=False)
    workers.run(worker_patches.slow_chunks, 0.15)
    cmd = [sys.executable, "-m", "nlpsvc.cli", "score", "--models", str(dask_models),
           "--input", str(inp), "--output", str(out), "--chunk-size", "10",
           "--partition-lines", "10", "--backend", "dask", "--scheduler",
           cluster.scheduler_address, "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE)
    parts = tmp_path / "out.jsonl.parts"
    deadline = time.monotonic() + 60
    while len(list(parts.glob("part-*.json"))) < 3 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(parts.glob("part-*.json")))
    assert 3 <= done < 20 and not out.exists()
    workers.run(worker_patches.restore)
    stats = score_file(dask_models, inp, out, chunk_size=10, progress=False, resume=True,
                       backend="dask", scheduler=cluster.scheduler_address,
                       partition_lines=10)
    assert stats["partitions_resumed"] >= done
    assert stats["resumed_from"] == 10 * stats["partitions_resumed"]
    assert out.read_bytes() == clean.read_bytes()
    assert not parts.exists()


def test_resume_refuses_another_job(workers: Any, cluster: Any, dask_models: Path,
                                    tmp_path: Path) -> None:
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(texts(30)) + "\n", encoding="utf-8")
    parts = tmp_path / "out.jsonl.parts"
    parts.mkdir()
    (parts / "job.json").write_text('{"input": "something else"}', encoding="utf-8")
    with pytest.raises(BatchError, match="another input"):
        score_file(dask_models, inp, tmp_path / "out.jsonl", progress=False, resume=True,
                   backend="dask", scheduler=cluster.scheduler_address)


def test_unreachable_scheduler_is_a_clear_error_within_10_s(dask_models: Path,
                                                            inputs: dict[str, Path],
                                                            tmp_path: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(BatchError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        score_file(dask_models, inputs["txt"], tmp_path / "o.jsonl", progress=False,
                   backend="dask", scheduler="tcp://127.0.0.1:9")
    assert time.monotonic() - t0 < 10
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "o.jsonl.parts").exists()


def test_second_run_on_the_same_output_is_refused(dask_models: Path, inputs: dict[str, Path],
                                                  tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    with exclusive(tmp_path / "o.jsonl.lock"), pytest.raises(BatchError, match="another"):
        score_file(dask_models, inputs["txt"], out, progress=False, backend="dask",
                   scheduler="tcp://127.0.0.1:9")
    assert not (tmp_path / "o.jsonl.parts").exists()


def test_url_scheme_without_its_package_names_the_package(dask_models: Path,
                                                          tmp_path: Path) -> None:
    if importlib.util.find_spec("s3fs") is not None:
        pytest.skip("s3fs is installed here")
    with pytest.raises(BatchError, match=r"s3:// needs the s3fs package"):
        score_file(dask_models, "s3://bucket/in.txt", tmp_path / "o.jsonl", progress=False,
                   backend="dask", scheduler="tcp://127.0.0.1:9")


def test_missing_input_and_unreadable_models_name_the_path(client: Any, dask_models: Path,
                                                           tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="no such input file"):
        score_file(dask_models, tmp_path / "nope.txt", tmp_path / "o.jsonl", progress=False,
                   backend="dask", scheduler="tcp://127.0.0.1:9")
    with pytest.raises(ClusterError, match=f"{tmp_path / 'gone'} cannot be read on Dask"):
        check_readable(client, tmp_path / "gone", "the models folder")


def test_mismatched_versions_are_dasks_error_on_one_line() -> None:
    from nlpsvc.dask.cluster import check_versions

    class Client:
        def get_versions(self, check: bool = False) -> None:
            raise ValueError("Mismatched versions found\n\n+---------+\n| Package | Client |\n"
                             "| dask    | 2026.1  |\n+---------+")

    with pytest.raises(ClusterError) as e:
        check_versions(Client())
    assert "\n" not in str(e.value) and "Mismatched versions found" in str(e.value)


def test_empty_input_needs_no_cluster(dask_models: Path, tmp_path: Path) -> None:
    inp = tmp_path / "empty.txt"
    inp.write_bytes(b"")
    out = tmp_path / "o.jsonl"
    stats = score_file(dask_models, inp, out, progress=False, backend="dask",
                       scheduler="tcp://127.0.0.1:9")
    assert out.read_bytes() == b"" and stats["lines"] == 0


def test_url_and_compressed_inputs(workers: Any, cluster: Any, dask_models: Path,
                                   inputs: dict[str, Path], tmp_path: Path) -> None:
    """An fsspec URL (file://) and a .gz input (partitions seek in the decompressed stream)."""
    import gzip

    gz = tmp_path / "in.jsonl.gz"
    gz.write_bytes(gzip.compress(inputs["jsonl"].read_bytes()))
    one = tmp_path / "one.jsonl"
    score_file(dask_models, inputs["jsonl"], one, chunk_size=6, progress=False)
    for i, source in enumerate([inputs["jsonl"].as_uri(), str(gz)]):
        out = tmp_path / f"d{i}.jsonl"
        stats = score_file(dask_models, source, out, chunk_size=6, progress=False,
                           backend="dask", scheduler=cluster.scheduler_address,
                           partition_lines=30)
        assert stats["partitions"] == 4
        assert out.read_bytes() == one.read_bytes(), source


def test_parts_come_back_to_the_client_without_a_shared_folder(
        workers: Any, cluster: Any, dask_models: Path, inputs: dict[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import nlpsvc.dask.score as dscore

    seen = []
    monkeypatch.setattr(dscore, "_shared_with_workers", lambda *a: seen.append(a) or False)
    one, dk = tmp_path / "one.jsonl", tmp_path / "dask.jsonl"
    score_file(dask_models, inputs["csv"], one, chunk_size=7, progress=False)
    score_file(dask_models, inputs["csv"], dk, chunk_size=7, progress=False, backend="dask",
               scheduler=cluster.scheduler_address, partition_lines=20)
    assert seen and one.read_bytes() == dk.read_bytes()


def test_workers_see_the_parts_folder_on_one_machine(client: Any, tmp_path: Path) -> None:
    from nlpsvc.dask.score import _sees_mark, _shared_with_workers

    assert _shared_with_workers(client, tmp_path, "job1")
    assert not any(client.run(_sees_mark, str(tmp_path / ".job"), "another job").values())
