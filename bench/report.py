"""Benchmark results: stored as JSON, then rendered into BENCHMARKS.md from that JSON only.

A suite measures, then calls ``publish(name, title, results, render, command)``: the results go
to ``bench/results/<name>.json`` (atomic write, with the command, machine, date and commit of the
run), are read back, and the section ``name`` of BENCHMARKS.md is rendered from what was stored.
``python -m bench.run --render`` re-renders sections from the stored JSON without measuring, and
``tests/bench`` checks that BENCHMARKS.md is exactly what the stored JSON renders to: a figure
typed into BENCHMARKS.md by hand fails the test. A suite module exposes ``render(results) -> str``
(the same function it passes to ``publish``) so that ``--render`` and the test can find it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"
RESULTS = ROOT / "bench" / "results"
HEADER = (
    "# Benchmarks\n\n"
    "Written by `make bench` (`python -m bench.run [--only NAME]`); each section says how it was\n"
    "measured. Machines here are noisy: ratios against the reference system are measured in the\n"
    "same run, side by side.\n"
)
SECTION_RE = re.compile(
    r"<!-- section:(?P<name>[\w.-]+) -->\n.*?<!-- /section:(?P=name) -->\n", re.S
)
Render = Callable[[dict[str, Any]], str]


def machine() -> str:
    """One line describing this machine (CPU model, cores, memory)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f", {mem_kb / 1024**2:.0f} GiB RAM"
    except (OSError, AttributeError):
        mem = ""
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
            cwd=ROOT,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def now() -> str:
    """The date format of every section header (minutes, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def results_path(name: str) -> Path:
    return RESULTS / f"{name}.json"


def _plain(obj: Any) -> Any:
    """JSON fallback for numpy scalars and arrays, paths and tuples-as-keys' values."""
    if hasattr(obj, "tolist"):  # numpy scalar or array
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable in bench results: {type(obj).__name__}")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store(name: str, title: str, results: dict[str, Any], command: str, *,
          date: str | None = None, machine_line: str | None = None,
          commit_id: str | None = None) -> dict[str, Any]:
    """Write ``bench/results/<name>.json`` atomically; return the document as read back.

    ``date``/``machine_line``/``commit_id`` default to this run's; they are only given when a
    stored run's own metadata is carried over (e.g. a GPU run done elsewhere).
    """
    doc = {
        "suite": name,
        "title": title,
        "command": command,
        "machine": machine_line or machine(),
        "date": date or now(),
        "commit": commit_id or commit(),
        "results": results,
    }
    text = json.dumps(doc, indent=1, ensure_ascii=False, default=_plain) + "\n"
    _atomic_write(results_path(name), text)
    return json.loads(text)


def load(name: str) -> dict[str, Any] | None:
    """The stored document of suite ``name`` (None when it has none)."""
    path = results_path(name)
    if not path.is_file():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    missing = {"suite", "title", "command", "machine", "date", "commit", "results"} - set(doc)
    if missing or doc["suite"] != name:
        raise ValueError(f"{path}: not a stored bench result (missing {sorted(missing)} "
                         f"or suite != {name!r})")
    return doc


def section(doc: dict[str, Any], render: Render) -> str:
    """The BENCHMARKS.md block of a stored document (header line + ``render(results)``)."""
    name = doc["suite"]
    return (
        f"<!-- section:{name} -->\n## {doc['title']}\n\n"
        f"Command: `{doc['command']}` · machine: {doc['machine']} · date: {doc['date']} · "
        f"commit {doc['commit']}\n\n"
        f"{render(doc['results']).strip()}\n<!-- /section:{name} -->\n"
    )


def sections(text: str | None = None) -> dict[str, str]:
    """BENCHMARKS.md's sections by name (each block exactly as written)."""
    if text is None:
        text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else ""
    return {m["name"]: m.group(0) for m in SECTION_RE.finditer(text)}


def _write_block(name: str, block: str) -> None:
    old = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else HEADER
    pattern = re.compile(
        rf"<!-- section:{re.escape(name)} -->\n.*?<!-- /section:{re.escape(name)} -->\n", re.S
    )
    text = pattern.sub(lambda _: block, old) if pattern.search(old) else old + "\n" + block
    if text != old or not BENCHMARKS.exists():  # an unchanged file is left alone
        _atomic_write(BENCHMARKS, text)


def render_stored(name: str, render: Render) -> bool:
    """Re-render section ``name`` from its stored JSON; False when nothing is stored."""
    doc = load(name)
    if doc is None:
        return False
    _write_block(name, section(doc, render))
    return True


def publish(name: str, title: str, results: dict[str, Any], render: Render,
            command: str) -> dict[str, Any]:
    """Store ``results`` (JSON) and render section ``name`` from what was stored.

    ``render`` gets the results as read back from the JSON (lists, not tuples; str keys), so
    ``--render`` later produces the same text from the file alone.
    """
    doc = store(name, title, results, command)
    _write_block(name, section(doc, render))
    return doc


def write_section(name: str, title: str, body: str, command: str) -> None:
    """Replace (or append) section ``name`` with ``body`` (legacy: no stored JSON; new code
    calls ``publish``)."""
    doc = {"suite": name, "title": title, "command": command, "machine": machine(),
           "date": now(), "commit": commit(), "results": {}}
    _write_block(name, section(doc, lambda _: body))


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
