"""Served vectors are memory-mapped: another process loading them shares the file's pages.

Measured from /proc/self/status in a fresh process: after loading, reading every vector and
answering an exact query (which scans the stored unit-row matrix), ``RssAnon`` (private memory)
must grow by much less than one matrix, ``RssFile`` (page cache, shared between processes) by
about two (the vectors and their unit rows). A control load without mmap shows the opposite, so
the measurement itself is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from nlpsvc.artifacts import ArtifactWriter, load_current
from nlpsvc.embeddings import save_vectors

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")

WORDS, DIM = 20_000, 300  # 24 MB of float32: well above the noise of an interpreter

CHILD = """
import json, sys
import numpy as np

def status():
    out = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) * 1024
    return out

import faiss  # libraries loaded before measuring: only the model's own pages count
from nlpsvc.artifacts import load_current
from nlpsvc.embeddings import load_artifact
artifact = load_current(sys.argv[1])
before = status()
model = load_artifact(artifact, mmap=None if sys.argv[2] == "none" else "r")
assert model.unit is not None
total = float(model.kv.vectors.sum(dtype=np.float64))  # touches every page of the matrix
found, _ = model.most_similar(["w00007"], topn=5)  # one scan over every unit row
after = status()
print(json.dumps({k: after[k] - before[k] for k in before}
                 | {"sum": total, "found": [n.word for n in found]}))
"""


def _child(kind_dir: Path, mmap: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(kind_dir), mmap], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_shares_the_matrix(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    kv = KeyedVectors(DIM)
    kv.add_vectors([f"w{i:05d}" for i in range(WORDS)],
                   rng.standard_normal((WORDS, DIM)).astype(np.float32))
    with ArtifactWriter(tmp_path, "big", "embeddings") as w:
        save_vectors(kv, w.dir)
        w.manifest.update(text={}, config={}, metrics={})
    kind_dir = tmp_path / "big" / "embeddings"
    assert load_current(kind_dir)
    assert np.load(tmp_path / "big" / "embeddings" / load_current(kind_dir).version
                   / "vectors.npy", mmap_mode="r").shape == (WORDS, DIM)
    matrix = WORDS * DIM * 4

    mapped = _child(kind_dir, "r")
    assert mapped["RssAnon"] < 0.4 * matrix, mapped
    assert mapped["RssFile"] > 1.8 * matrix, mapped  # vectors + unit rows, both shared

    copied = _child(kind_dir, "none")  # control: without mmap both are private memory
    assert copied["RssAnon"] > 1.8 * matrix, copied
    assert mapped["sum"] == pytest.approx(copied["sum"])
    assert mapped["found"] == copied["found"] and len(mapped["found"]) == 5
