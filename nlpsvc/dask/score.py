"""``nlpsvc score --backend dask``: partitions scored on Dask workers, output in input order.

* The input (a path or an fsspec URL) is planned as record-aligned partitions
  (``nlpsvc.dask.inputs``); each is one task, which reads its byte range on the worker and
  scores it chunk by chunk with ``batch.score_chunk`` - the very function ``--jobs 1`` runs,
  on the very same chunks - so the output is byte-identical, ``"error"`` lines included.
* Each worker process loads the model once (``batch._scorer``'s per-process cache) from the
  served version folder, which must be readable at the same path on every worker.
* Each partition is written atomically to ``OUTPUT.parts/part-NNNNNN.jsonl`` (then a small
  ``.json`` with its counts, which marks it finished): by the worker itself when every worker
  sees that folder (one machine, or a shared filesystem: checked with a mark file), else by
  the client as the results arrive (the output then needs no shared filesystem). At the end
  the client concatenates the parts in input order into ``OUTPUT`` (via ``OUTPUT.partial``,
  renamed when whole).
* A worker that dies has its tasks rerun by the scheduler (and a task that raises is retried
  ``RETRIES`` times); ``--resume`` keeps the parts of an interrupted run whose job
  (``OUTPUT.parts/job.json``: input size and mtime, model, options, partitions) is this one.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from nlpsvc import batch
from nlpsvc.artifacts import atomic_write_text
from nlpsvc.batch import BatchError, JobSpec
from nlpsvc.dask.cluster import ClusterError, check_readable, dask_client, one_line, worker_host
from nlpsvc.dask.inputs import InputPlan, Part, plan_input, range_lines, read_header

RETRIES = 2  # reruns of a task that raised (a flaky network read); worker deaths are extra
DEFAULT_PARTITION_CHUNKS = 25  # partitions of 25 chunks (50k lines at --chunk-size 2000)
_LOAD_LOCK = threading.Lock()  # one model load per worker process, even with threads


def score_locked(spec: JobSpec, url: str, out: Path, column: str | None, workers: int,
                 chunk_size: int, resume: bool, progress: bool, t0: float, *,
                 scheduler: str | None = None, partition_lines: int | None = None
                 ) -> dict[str, Any]:
    """The Dask job, run while this process holds ``OUTPUT.lock`` (see ``batch.score_file``)."""
    part_records = partition_lines or chunk_size * DEFAULT_PARTITION_CHUNKS
    if part_records < 1:
        raise BatchError("--partition-lines must be at least 1")
    plan = plan_input(url, column, chunk_size, part_records)
    parts_dir = out.with_name(out.name + ".parts")
    ident = _identity(plan, spec, column, chunk_size)
    done = _resumable(parts_dir, ident, plan) if resume else {}
    errors = sum(done.values())
    todo = [p for p in plan.parts if p.index not in done]
    if resume and not done:
        print(f"nothing to resume for {out}; starting from the beginning", file=sys.stderr)
    if todo:  # (a resumed job whose parts are all there, or an empty input, needs no cluster)
        try:
            with dask_client(scheduler, workers) as client:
                check_readable(client, spec.version_dir, "the models folder")
                if not done:
                    shutil.rmtree(parts_dir, ignore_errors=True)
                    parts_dir.mkdir()
                    atomic_write_text(parts_dir / "job.json", json.dumps(ident))
                errors += _run_parts(client, spec, plan, column, todo, parts_dir, chunk_size,
                                     progress, len(done))
        except ClusterError as e:
            raise BatchError(str(e)) from None
    _concatenate(plan, parts_dir, out)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return {"lines": plan.records, "errors": errors, "seconds": time.perf_counter() - t0,
            "resumed_from": sum(plan.parts[i].records for i in done),
            "partitions": len(plan.parts), "partitions_resumed": len(done)}


def _identity(plan: InputPlan, spec: JobSpec, column: str | None, chunk_size: int) -> dict:
    ident = {**plan.identity, "column": column, "chunk_size": chunk_size,
             "job": {"version_dir": spec.version_dir, "kind": spec.kind,
                     "per_token": spec.per_token, "options": list(spec.options)},
             "parts": [[p.start, p.end, p.records] for p in plan.parts]}
    return json.loads(json.dumps(ident))  # as read back from job.json (tuples -> lists)


def _part_file(parts_dir: Path, index: int) -> Path:
    return parts_dir / f"part-{index:06d}.jsonl"


def _resumable(parts_dir: Path, ident: dict, plan: InputPlan) -> dict[int, int]:
    """Finished parts of an interrupted run of this very job: index -> its error lines."""
    try:
        if json.loads((parts_dir / "job.json").read_text(encoding="utf-8")) != ident:
            raise BatchError(f"{parts_dir}: the interrupted run used another input, model or "
                             "options; run again without --resume to start over")
    except (OSError, ValueError) as e:
        if isinstance(e, BatchError):
            raise
        return {}
    done = {}
    for p in plan.parts:
        try:
            meta = json.loads(_part_file(parts_dir, p.index).with_suffix(".json").read_text())
        except (OSError, ValueError):
            continue  # not finished: its .json is written after its data
        data = _part_file(parts_dir, p.index)
        if (meta.get("lines") == p.records and data.is_file()
                and data.stat().st_size == meta.get("bytes")):
            done[p.index] = int(meta.get("errors", 0))
    return done


def _run_parts(client: Any, spec: JobSpec, plan: InputPlan, column: str | None,
               todo: list[Part], parts_dir: Path, chunk_size: int, progress: bool,
               resumed: int) -> int:
    """Score ``todo`` on the cluster, writing each part as it arrives; returns error lines."""
    from distributed import as_completed

    errors = 0
    bar = _bar(progress, len(plan.parts), resumed)
    lines, started = 0, time.perf_counter()
    job = uuid.uuid4().hex[:12]
    dest = str(parts_dir) if _shared_with_workers(client, parts_dir, job) else None
    futures = [client.submit(score_part, spec, plan.url, plan.fmt, column, plan.header_end,
                             p.start, p.end, p.records, chunk_size, dest, p.index,
                             key=f"nlpsvc-score-{job}-{p.index}", retries=RETRIES, pure=False)
               for p in todo]
    index = {f.key: p.index for f, p in zip(futures, todo, strict=True)}
    try:
        for fut in as_completed(futures, loop=client.loop):
            data, n, n_errors = _result(fut)
            if data is not None:  # else the worker wrote it into the shared parts folder
                _write_part(parts_dir, index[fut.key], data, n, n_errors)
            errors += n_errors
            lines += n
            if bar is not None:
                rate = lines / max(time.perf_counter() - started, 1e-9)
                bar.set_postfix_str(f"{rate:,.0f} lines/s", refresh=False)
                bar.update(1)
    finally:
        client.cancel(futures)
        if bar is not None:
            bar.close()
    return errors


def _result(fut: Any) -> Any:
    """A task's result (then released on the cluster); its failure as one ``BatchError``."""
    try:
        value = fut.result()
    except BatchError:
        raise
    except Exception as e:  # raised on the worker (after its retries), or KilledWorker
        raise BatchError(f"a Dask task failed: {one_line(e)}") from e
    fut.release()
    return value


def _shared_with_workers(client: Any, parts_dir: Path, job: str) -> bool:
    """Whether every worker sees this very ``parts_dir`` (a shared filesystem, or one
    machine): then the workers write their parts there and no output crosses the network."""
    mark = parts_dir / ".job"
    atomic_write_text(mark, job)
    try:
        return all(client.run(_sees_mark, str(mark), job).values())
    except Exception:  # noqa: BLE001 - any doubt: the parts come back to the client
        return False


def _sees_mark(mark: str, job: str) -> bool:
    """Runs on a worker."""
    try:
        with open(mark, encoding="utf-8") as f:
            return f.read() == job and os.access(os.path.dirname(mark), os.W_OK)
    except OSError:
        return False


def _write_part(parts_dir: Path, index: int, data: bytes, lines: int, errors: int) -> None:
    """The part's data, then its counts: a part is finished when its ``.json`` is there."""
    path = _part_file(parts_dir, index)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    atomic_write_text(path.with_suffix(".json"),
                      json.dumps({"lines": lines, "bytes": len(data), "errors": errors}))


def _concatenate(plan: InputPlan, parts_dir: Path, out: Path) -> None:
    """The parts in input order into ``OUTPUT.partial``, renamed to ``OUTPUT`` when whole."""
    partial = out.with_name(out.name + ".partial")
    with open(partial, "wb") as dst:
        for p in plan.parts:
            with open(_part_file(parts_dir, p.index), "rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(partial, out)


def _bar(enabled: bool, total: int, initial: int) -> Any:
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit=" part", file=sys.stderr)


# -- on the workers ------------------------------------------------------------------------------


def score_part(spec: JobSpec, url: str, fmt: str, column: str | None, header_end: int,
               start: int, end: int, records: int, chunk_size: int, dest: str | None = None,
               index: int = 0) -> tuple[bytes | None, int, int]:
    """(JSON lines, records, error lines) of one partition; runs on a worker. With ``dest``
    (the shared parts folder) the worker writes the part there itself and returns None."""
    if not os.path.isdir(spec.version_dir):
        raise BatchError(f"the models folder {spec.version_dir} cannot be read on Dask worker "
                         f"host {worker_host()}")
    with _LOAD_LOCK:
        batch._scorer(spec)
    out, n, errors = [], 0, 0
    try:
        header = read_header(url, fmt, header_end)
        recs = batch.records_of_lines(range_lines(url, start, end), fmt, column, url,
                                      header=header)
        for chunk in batch._chunks(recs, chunk_size):
            text, n_errors = batch.score_chunk(spec, chunk)
            out.append(text)
            n += len(chunk)
            errors += n_errors
    except BatchError as e:  # e.g. an input path that is not shared with this worker
        raise BatchError(f"{e} (on Dask worker host {worker_host()}: the input must be "
                         "readable by every worker)") from None
    if n != records:
        raise BatchError(f"{url}: bytes {start}..{end} hold {n} records, {records} when planned; "
                         "the input changed during the job")
    data = "".join(out).encode("utf-8")
    if dest is None:
        return data, n, errors
    _write_part(Path(dest), index, data, n, errors)
    return None, n, errors

