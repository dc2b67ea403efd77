"""Schemathesis against a real ``nlpsvc serve``: every operation of ``/openapi.json``, about 60 s.

One model set with every kind (n-gram, LSTM, embeddings, classifier, chatbot; the browser tests'
tiny settings, about 10 s to train) behind gunicorn with API tokens on, so every kind answers
and ``/score``'s ``mix`` too. ``st run --checks all`` must find nothing: no 5xx, no status or
content type the document does not list, no response outside its schema, no schema-valid
request refused and no schema-invalid one accepted. The only widening of schemathesis'
defaults is 413 among the expected answers: the 1 MiB body limit is in bytes, which JSON Schema
cannot state (a valid request of 1,000 texts of 10,000 characters is larger).

The seed is fixed so that a failure reproduces (``NLPSVC_FUZZ_SEED`` picks another,
``NLPSVC_FUZZ_SECONDS`` another budget); schemathesis prints a curl line for each failure.
``/`` (HTML) and ``/metrics`` (Prometheus text) are in the document with their own content
types and are fuzzed too; schemathesis leaves out ``/openapi.json``, the document it reads.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlpsvc.cli import main as cli
from tests.browser.conftest import TINY, corpus_slice
from tests.serving import free_port, stop, wait_ready

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "fuzz-test-token"
CONFIG = """\
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "404", "413"]
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "404", "413", "415", "422"]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``nlpsvc serve`` (2 workers, tokens on) over every kind: base URL and its log."""
    root = tmp_path_factory.mktemp("fuzz")
    sets = [f"--set={kind}.{k}={v}" for kind, table in TINY.items() for k, v in table.items()]
    models = root / "models"
    assert cli(["train", str(corpus_slice(root / "play")), "--out", str(models), "-q",
                *sets]) == 0
    tokens = root / "tokens.txt"
    tokens.write_text(TOKEN + "\n", encoding="utf-8")
    port, log = free_port(), root / "server.log"
    env = {**os.environ, "NLPSVC_REQUEST_LOG": str(root / "requests.log")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nlpsvc.cli", "serve", "--models", str(models), "--port",
         str(port), "--workers", "2", "--tokens-file", str(tokens)],
        cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, 90, log.read_text)
        yield base, log
    finally:
        stop(proc)


def test_schemathesis_finds_nothing(server: tuple[str, Path], tmp_path: Path) -> None:
    base, log = server
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    seconds = os.environ.get("NLPSVC_FUZZ_SECONDS", "60")
    st = Path(sys.executable).with_name("st")  # the test extra's schemathesis, in this venv
    cmd = [str(st), "--config-file", str(config), "run", f"{base}/openapi.json",
           "--checks", "all", "--max-time", seconds, "--no-color",
           "--seed", os.environ.get("NLPSVC_FUZZ_SEED", "14"),
           "--header", f"Authorization: Bearer {TOKEN}", "--generation-database", "none",
           "--report", "junit", "--report-dir", str(tmp_path)]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True,
                         timeout=float(seconds) + 120)
    out = run.stdout + run.stderr
    summary = out[out.find("SUMMARY"):] if "SUMMARY" in out else out[-3000:]
    assert run.returncode == 0, out[-12000:]
    selected = re.search(r"Selected:\s+(\d+)/(\d+)", out)
    tested = re.search(r"Tested:\s+(\d+)", out)
    generated = re.search(r"(\d+) generated", out)
    assert selected and tested, summary
    assert int(tested.group(1)) == int(selected.group(2)) >= 9, summary  # all but /openapi.json
    assert generated and int(generated.group(1)) >= 500, summary
    assert "Traceback" not in log.read_text(encoding="utf-8", errors="replace")
