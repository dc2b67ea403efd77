"""Issue 14, defect 9: a killed training's temp folder goes when ``nlpsvc train`` next starts.

Before, it went only when a later training of the same kind published, so a set whose
training was killed kept ``.tmp-*`` folders until then (forever, for a kind not re-trained).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from nlpsvc.cli import main as cli

# A training at its publish step: the temp folder written, its lock held, then it sleeps.
WRITER = (
    "import sys, time\n"
    "from nlpsvc.artifacts import ArtifactWriter\n"
    "w = ArtifactWriter(sys.argv[1], 'mini', sys.argv[2]).__enter__()\n"
    "(w.dir / 'half.bin').write_bytes(b'x' * 1000)\n"
    "print(w.dir.name, flush=True)\n"
    "time.sleep(120)\n"
)


def start_writer(root: Path, kind: str) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), kind],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    folder = root / "mini" / kind / proc.stdout.readline().strip()
    assert folder.name.startswith(".tmp-") and (folder / "half.bin").is_file()
    return proc, folder


def test_train_removes_a_killed_trainings_folder_at_start_and_keeps_a_live_one(
        tmp_path: Path, mini_corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "models"
    killed, dead = start_writer(out, "chatbot")
    killed.kill()  # -9 mid-publish: no clean-up runs in the writer
    killed.wait()
    assert (dead / "half.bin").is_file() and dead.with_name(dead.name + ".lock").is_file()
    writer, live = start_writer(out, "ngram")  # another training, still writing
    try:
        # A bad value stops this run at its config check, before any pipeline runs or
        # publishes: what is cleaned by then is cleaned at the start. The dead folder is of a
        # kind this run does not even train.
        with caplog.at_level(logging.WARNING, logger="nlpsvc.artifacts"):
            rc = cli(["train", str(mini_corpus), "--only", "ngram", "--out", str(out), "-q",
                      "--set", "ngram.order=0"])
        assert rc == 1
        assert not dead.exists() and not dead.with_name(dead.name + ".lock").exists()
        assert f"removed {dead.name}, left by an interrupted training" in caplog.text
        assert (live / "half.bin").is_file()  # its writer lives: kept
        assert live.name not in caplog.text
    finally:
        writer.kill()
        writer.wait()
    # Once its writer is gone too, the next start removes it.
    assert cli(["train", str(mini_corpus), "--only", "ngram", "--out", str(out), "-q",
                "--set", "ngram.order=0"]) == 1
    assert sorted(p.name for p in (out / "mini" / "ngram").iterdir()) == []
    assert sorted(p.name for p in (out / "mini" / "chatbot").iterdir()) == []
