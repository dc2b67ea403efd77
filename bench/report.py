"""Write one section of BENCHMARKS.md, leaving the other sections as they are."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\n"
    "Written by `make bench` (`python -m bench.run [--only NAME]`); each section says how it was\n"
    "measured. Machines here are noisy: ratios against the reference system are measured in the\n"
    "same run, side by side.\n"
)


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
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_section(name: str, title: str, body: str, command: str) -> None:
    """Replace (or append) the section ``name`` of BENCHMARKS.md."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"<!-- section:{name} -->\n## {title}\n\n"
        f"Command: `{command}` · machine: {machine()} · date: {stamp} · commit {commit()}\n\n"
        f"{body.strip()}\n<!-- /section:{name} -->\n"
    )
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else HEADER
    pattern = re.compile(
        rf"<!-- section:{re.escape(name)} -->.*?<!-- /section:{re.escape(name)} -->\n", re.S
    )
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text + "\n" + block
    tmp = BENCHMARKS.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(BENCHMARKS)


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
