"""Offline batch scoring (SPEC §5): ``nlpsvc score --input FILE --output FILE``.

* Input: ``.txt`` (a record a line), ``.jsonl`` (``{"text": ...}``), ``.csv``/``.tsv`` (a header
  row; the ``--column`` text column, default ``text``); plain or ``.gz``/``.bz2``/``.xz``.
* Output: one JSON line per input record, in input order, with the fields of ``/score`` (or of
  one ``/classify`` result); a record that cannot be scored (bad JSON, missing column, bad
  UTF-8, a text over the length limit) gets an ``"error"`` field instead, never dropped.
* Streaming: records go in chunks to the scorer; with ``jobs > 1`` chunks go to joblib worker
  processes (each loads the model once, memory-mapped) and come back in order, with at most a
  few chunks in flight, so memory stays flat whatever the input size.
* Atomic and resumable: output goes to ``OUTPUT.partial`` and a checkpoint ``OUTPUT.progress``
  (records and bytes done, plus what identifies the job) is rewritten after every chunk; the
  partial file is renamed to ``OUTPUT`` only when complete. ``resume=True`` checks that the
  checkpoint matches this job (same input size and mtime, model version, options), cuts the
  partial file back to the last checkpoint and continues from there.
* Exclusive: a run holds ``OUTPUT.lock`` (released however it ends); a second run on the same
  output is refused at once with a clear error instead of corrupting the first one's files.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from nlpsvc import kinds
from nlpsvc.artifacts import ArtifactError, NoSingleSet, atomic_write_text, served
from nlpsvc.kinds import BATCH_KINDS, LM_KINDS
from nlpsvc.locks import LockHeld, exclusive
from nlpsvc.textio import open_binary, strip_compression

MAX_TEXT_CHARS = 100_000  # a longer record is reported as an error, not scored


class BatchError(Exception):
    """The job cannot run (bad options, missing model, mismatched --resume checkpoint)."""


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to load the model on its own (picklable, small)."""

    version_dir: str
    kind: str
    per_token: bool
    options: tuple[tuple[str, Any], ...] = ()


# -- input ----------------------------------------------------------------------------------------

Record = tuple[str | None, str | None]  # (text, error)


def _format_of(path: Path) -> str:
    base, _ = strip_compression(path.name)
    ext = base.rsplit(".", 1)[-1].lower() if "." in base else ""
    if ext in ("csv", "tsv", "jsonl"):
        return ext
    return "txt"


def _decoded_lines(path: Path) -> Iterator[str]:
    """Lines with bad bytes kept as surrogates, so a bad record is reported, not fatal."""
    with open_binary(path) as f:
        first = True
        for raw in f:
            line = raw.decode("utf-8", "surrogateescape")
            if first and line.startswith("\ufeff"):
                line = line[1:]
            first = False
            yield line


def _check_text(text: Any, where: str) -> Record:
    if not isinstance(text, str):
        return None, f"{where} is not a string"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None, "invalid UTF-8 in input line"
    if len(text) > MAX_TEXT_CHARS:
        return None, f"text exceeds {MAX_TEXT_CHARS} characters"
    return text, None


def read_records(path: str | Path, column: str | None = None) -> Iterator[Record]:
    """``(text, None)`` or ``(None, error)`` for every record of ``path``, in order."""
    path = Path(path)
    return records_of_lines(_decoded_lines(path), _format_of(path), column, str(path))


def records_of_lines(lines: Iterator[str], fmt: str, column: str | None, where: str,
                     header: list[str] | None = None) -> Iterator[Record]:
    """The records of decoded ``lines`` of format ``fmt`` (``txt``, ``jsonl``, ``csv``, ``tsv``).

    ``header``: a CSV/TSV header read elsewhere, so that a slice of a file (a Dask partition)
    parses as the whole file does; None reads it from the first line.
    """
    if fmt == "txt":
        for line in lines:
            yield _check_text(line.rstrip("\r\n"), "line")
    elif fmt == "jsonl":
        for line in lines:
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                yield None, f"invalid JSON: {e}"
                continue
            if not isinstance(obj, dict) or "text" not in obj:
                yield None, 'expected an object with a "text" field'
                continue
            yield _check_text(obj["text"], '"text"')
    else:
        reader = csv.reader(lines, delimiter="\t" if fmt == "tsv" else ",")
        if header is None:
            header = next(reader, None)
        if header is None:
            return
        idx = column_index(header, column, where)
        for row in reader:
            if len(row) != len(header):
                yield None, f"expected {len(header)} fields, found {len(row)}"
                continue
            yield _check_text(row[idx], f"column {header[idx]!r}")


def column_index(header: list[str], column: str | None, where: str) -> int:
    """Index of the text column in a CSV/TSV header, or the error naming the choices."""
    name = column or "text"
    if name not in header:
        raise BatchError(f"{where}: no column {name!r} in the header ({', '.join(header)}); "
                         "choose one with --column")
    return header.index(name)


# -- scoring (runs in the worker processes) -------------------------------------------------------

_CACHE: dict[JobSpec, Any] = {}  # one loaded scorer per process and job


def _scorer(spec: JobSpec) -> Any:
    if spec not in _CACHE:
        from nlpsvc.artifacts import verify

        artifact = verify(spec.version_dir)
        model = kinds.load_model(spec.kind, artifact)
        if spec.kind in LM_KINDS:
            from nlpsvc.scoring import LanguageModel

            _CACHE[spec] = LanguageModel.from_artifact(artifact, model)
        else:
            package = kinds.package(spec.kind)
            if not hasattr(package, "batch_classify"):
                raise BatchError(f"batch scoring is not available for {spec.kind}")
            _CACHE[spec] = (package, artifact, model)
    return _CACHE[spec]


def _score_many(spec: JobSpec, texts: list[str]) -> list[dict[str, Any]]:
    scorer = _scorer(spec)
    if spec.kind in LM_KINDS:
        return scorer.score_texts(texts, per_token=spec.per_token)
    package, artifact, model = scorer
    return package.batch_classify(artifact, model, texts, **dict(spec.options))


def score_chunk(spec: JobSpec, records: list[Record]) -> tuple[str, int]:
    """JSON lines for one chunk of records, and how many of them are errors.

    A record that fails is isolated: it gets an ``"error"`` field, its neighbours are scored.
    """
    good = [(i, t) for i, (t, err) in enumerate(records) if err is None]
    out: list[dict[str, Any] | None] = [None] * len(records)
    for i, (_, err) in enumerate(records):
        if err is not None:
            out[i] = {"error": err}
    try:
        results = _score_many(spec, [t for _, t in good]) if good else []
        for (i, _), res in zip(good, results, strict=True):
            out[i] = res
    except (ValueError, TypeError, KeyError, IndexError):
        for i, t in good:  # one bad record must not fail its neighbours: score one by one
            try:
                out[i] = _score_many(spec, [t])[0]
            except (ValueError, TypeError, KeyError, IndexError) as e:
                out[i] = {"text": t, "error": f"cannot score: {e}"}
    n_errors = sum(1 for r in out if r is not None and "error" in r)
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), n_errors


# -- the job --------------------------------------------------------------------------------------


def resolve_version(models: str | Path, kind: str, model: str | None = None) -> Path:
    """The verified served version folder of ``kind`` (under ``models`` or ``models/<set>``).

    A derived kind resolves to the artifact that holds its settings (``mix``: the lstm one;
    ``load_mix`` finds the set's n-gram model beside it).
    """
    if kind not in BATCH_KINDS:
        raise BatchError(f"unknown kind {kind!r}; expected one of {', '.join(BATCH_KINDS)}")
    try:
        return served(models, kinds.artifact_kind(kind), model).path
    except NoSingleSet as e:
        raise BatchError(f"{e.root}: {'no' if not e.sets else 'several'} {e.kind} model sets "
                         f"({', '.join(e.sets) or 'none'}); name one with --model") from e
    except ArtifactError as e:
        raise BatchError(str(e)) from e


def _identity(input_path: Path, spec: JobSpec, column: str | None, chunk_size: int) -> dict:
    st = input_path.stat()
    ident = {"input": str(input_path.resolve()), "input_size": st.st_size,
            "input_mtime_ns": st.st_mtime_ns, "column": column, "chunk_size": chunk_size,
            "job": asdict(spec)}
    return json.loads(json.dumps(ident))  # as read back from the checkpoint (tuples -> lists)


def score_file(
    models: str | Path,
    input: str | Path,  # noqa: A002 - the CLI's name
    output: str | Path,
    kind: str = "ngram",
    model: str | None = None,
    column: str | None = None,
    jobs: int = 1,
    chunk_size: int = 2000,
    resume: bool = False,
    per_token: bool = False,
    progress: bool = True,
    options: dict[str, Any] | None = None,
    backend: str = "joblib",
    scheduler: str | None = None,
    partition_lines: int | None = None,
) -> dict[str, Any]:
    """Score every record of ``input`` into ``output`` (JSON lines); see the module docstring.

    ``backend="dask"`` runs the partitions on a Dask cluster (``scheduler``, else a local one
    with ``jobs`` workers; ``input`` may be an fsspec URL): ``nlpsvc.dask.score``.
    Returns ``{"lines", "errors", "seconds", "resumed_from"}``.
    """
    t0 = time.perf_counter()
    input_path, out = Path(input), Path(output)
    if backend not in ("joblib", "dask"):
        raise BatchError(f"unknown backend {backend!r}; expected joblib or dask")
    if backend == "joblib" and not input_path.is_file():
        raise BatchError(f"{input_path}: no such input file")
    if jobs < 1 or chunk_size < 1:
        raise BatchError("--jobs and --chunk-size must be at least 1")
    if not out.parent.is_dir():
        raise BatchError(f"{out.parent}: no such folder for the output")
    spec = JobSpec(str(resolve_version(models, kind, model)), kind, per_token,
                   tuple(sorted((options or {}).items())))
    _scorer(spec)  # fail now, in this process, on a model that cannot load
    lock = out.with_name(out.name + ".lock")
    try:
        with exclusive(lock):
            if backend == "dask":
                from nlpsvc.dask.score import score_locked

                return score_locked(spec, str(input), out, column, jobs, chunk_size, resume,
                                    progress, t0, scheduler=scheduler,
                                    partition_lines=partition_lines)
            return _score_locked(spec, input_path, out, column, jobs, chunk_size, resume,
                                 progress, t0)
    except LockHeld as e:
        raise BatchError(f"{out} is being written by another nlpsvc score (process "
                         f"{e.holder or '?'}); wait for it to finish or choose another "
                         "--output") from None


def _score_locked(spec: JobSpec, input_path: Path, out: Path, column: str | None, jobs: int,
                  chunk_size: int, resume: bool, progress: bool, t0: float) -> dict[str, Any]:
    """The job itself, run while this process holds ``OUTPUT.lock`` (no other run writes
    ``OUTPUT``, its ``.partial`` or its ``.progress`` meanwhile)."""
    partial = out.with_name(out.name + ".partial")
    ckpt = out.with_name(out.name + ".progress")
    ident = _identity(input_path, spec, column, chunk_size)
    done_lines, done_bytes = 0, 0
    if resume and ckpt.is_file() and partial.is_file():
        state = json.loads(ckpt.read_text(encoding="utf-8"))
        if state.get("identity") != ident:
            raise BatchError(f"{ckpt}: the interrupted run used another input, model or options; "
                             "run again without --resume to start over")
        done_lines, done_bytes = int(state["lines"]), int(state["bytes"])
        if partial.stat().st_size < done_bytes or _count_lines(partial, done_bytes) != done_lines:
            raise BatchError(f"{partial}: shorter than its checkpoint says; "
                             "run again without --resume to start over")
    elif resume:
        print(f"nothing to resume for {out}; starting from the beginning", file=sys.stderr)
    mode = "r+b" if done_lines else "wb"
    errors = 0
    records = read_records(input_path, column)
    skipped = sum(1 for _ in islice(records, done_lines))
    if skipped < done_lines:
        raise BatchError(f"{input_path}: has fewer records than the checkpoint ({done_lines})")
    chunks = _chunks(records, chunk_size)
    bar = _progress_bar(progress, done_lines)
    lines = done_lines
    with open(partial, mode) as f:
        f.truncate(done_bytes)
        f.seek(done_bytes)
        for block, n_errors in _run(spec, chunks, jobs):
            data = block.encode("utf-8")
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            done_bytes += len(data)
            n = block.count("\n")
            lines += n
            errors += n_errors
            atomic_write_text(ckpt, json.dumps({"identity": ident, "lines": lines,
                                                "bytes": done_bytes}))
            if bar is not None:
                bar.update(n)
    if bar is not None:
        bar.close()
    os.replace(partial, out)
    ckpt.unlink(missing_ok=True)
    return {"lines": lines, "errors": errors, "seconds": time.perf_counter() - t0,
            "resumed_from": skipped}


def _chunks(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while chunk := list(islice(records, size)):
        yield chunk


def _run(
    spec: JobSpec, chunks: Iterator[list[Record]], jobs: int
) -> Iterator[tuple[str, int]]:
    """Scored chunks in input order: in this process, or on ``jobs`` joblib processes."""
    if jobs == 1:
        for chunk in chunks:
            yield score_chunk(spec, chunk)
        return
    from joblib import Parallel, delayed, parallel_config

    # Every worker watches this process: a kill -9 here must not leave them running.
    with parallel_config(backend="loky", initializer=exit_with_parent, initargs=(os.getpid(),)):
        parallel = Parallel(n_jobs=jobs, return_as="generator", pre_dispatch=f"{2 * jobs}")
        yield from parallel(delayed(score_chunk)(spec, chunk) for chunk in chunks)


def exit_with_parent(parent: int, interval: float = 0.5) -> None:
    """Worker initializer: end this process soon after ``parent`` dies.

    loky workers block on their task queue and otherwise outlive a parent killed with -9 (a
    signal that runs no clean-up) for minutes. A daemon thread polls the parent pid; when the
    process has been re-parented, it exits at once (no clean-up is owed to a dead job).
    """
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _count_lines(path: Path, limit: int) -> int:
    n, left = 0, limit
    with open(path, "rb") as f:
        while left > 0 and (block := f.read(min(left, 1 << 20))):
            n += block.count(b"\n")
            left -= len(block)
    return n


def _progress_bar(enabled: bool, initial: int) -> Any:
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(initial=initial, unit=" lines", unit_scale=True, file=sys.stderr)


__all__ = ["BatchError", "JobSpec", "read_records", "resolve_version", "score_chunk",
           "score_file"]
