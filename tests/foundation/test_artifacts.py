"""Artifact store: atomic publish, verification, fallback to the previous good version."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from nlpsvc.artifacts import (
    CURRENT,
    ArtifactError,
    ArtifactWriter,
    clean_stale_temps,
    load_current,
    model_sets,
    verify,
    versions,
)


def publish(root: Path, payload: str, corpus: str = "c", kind: str = "ngram") -> Path:
    with ArtifactWriter(root, corpus, kind) as w:
        (w.dir / "model").mkdir()
        (w.dir / "model" / "weights.txt").write_text(payload)
        w.manifest.update(metrics={"perplexity": 1.5}, text={"tokenizer": "default"})
    return w.version_dir


def test_publish_writes_manifest_and_current(tmp_path: Path) -> None:
    v = publish(tmp_path, "one")
    m = json.loads((v / "manifest.json").read_text())
    assert m["kind"] == "ngram" and m["corpus"] == "c" and m["format_version"] == 1
    assert m["files"]["model/weights.txt"]["size"] == 3
    assert len(m["files"]["model/weights.txt"]["sha256"]) == 64
    assert {"nlpsvc", "python", "numpy"} <= set(m["libraries"])
    assert (tmp_path / "c" / "ngram" / CURRENT).read_text().strip() == v.name
    art = load_current(tmp_path / "c" / "ngram")
    assert art.version == v.name and art.summary()["metrics"] == {"perplexity": 1.5}
    assert model_sets(tmp_path) == {"c": tmp_path / "c"}
    assert model_sets(tmp_path / "c") == {"c": tmp_path / "c"}


def test_corrupted_file_falls_back_to_previous(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    v1 = publish(tmp_path, "one")
    v2 = publish(tmp_path, "two")
    assert v1.name < v2.name
    (v2 / "model" / "weights.txt").write_text("tw0")  # same size, different bytes
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        verify(v2)
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        load_current(tmp_path / "c" / "ngram", fallback=False)
    with caplog.at_level(logging.WARNING):
        art = load_current(tmp_path / "c" / "ngram")
    assert art.version == v1.name
    assert "serving previous version" in caplog.text


def test_missing_manifest_and_missing_file(tmp_path: Path) -> None:
    v1 = publish(tmp_path, "one")
    v2 = publish(tmp_path, "two")
    (v2 / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="no manifest.json"):
        verify(v2)
    assert load_current(tmp_path / "c" / "ngram").version == v1.name
    (v1 / "model" / "weights.txt").unlink()
    with pytest.raises(ArtifactError, match="no manifest.json"):  # nothing good is left
        load_current(tmp_path / "c" / "ngram")
    with pytest.raises(ArtifactError, match="missing"):
        verify(v1)


def test_format_version_mismatch(tmp_path: Path) -> None:
    v = publish(tmp_path, "one")
    m = json.loads((v / "manifest.json").read_text())
    m["format_version"] = 99
    (v / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="format version 99"):
        verify(v)


def test_failed_training_publishes_nothing(tmp_path: Path) -> None:
    v1 = publish(tmp_path, "one")
    with pytest.raises(RuntimeError), ArtifactWriter(tmp_path, "c", "ngram") as w:
        (w.dir / "partial.bin").write_bytes(b"\0" * 10)
        raise RuntimeError("training blew up")
    kind_dir = tmp_path / "c" / "ngram"
    assert versions(kind_dir) == [v1.name]
    assert [p.name for p in kind_dir.iterdir() if p.name.startswith(".")] == []
    assert load_current(kind_dir).version == v1.name


def test_crash_mid_publish_leaves_previous_version_serving(tmp_path: Path) -> None:
    """A process killed while writing (no clean-up runs) leaves only a hidden temp folder."""
    v1 = publish(tmp_path, "one")
    code = (
        "import os, sys\n"
        "from nlpsvc.artifacts import ArtifactWriter\n"
        f"w = ArtifactWriter({str(tmp_path)!r}, 'c', 'ngram').__enter__()\n"
        "(w.dir / 'half.bin').write_bytes(b'x' * 1000)\n"
        "os._exit(9)  # killed before the manifest, the rename and CURRENT\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == 9
    kind_dir = tmp_path / "c" / "ngram"
    assert any(p.name.startswith(".tmp-") for p in kind_dir.iterdir())
    assert versions(kind_dir) == [v1.name]
    assert load_current(kind_dir).version == v1.name
    # issue 14: the killed writer's folder used to stay forever; the next writer removes it
    v2 = publish(tmp_path, "two")
    assert [p.name for p in kind_dir.iterdir() if p.name.startswith(".")] == []
    assert versions(kind_dir) == [v1.name, v2.name]


def test_a_live_writers_temp_folder_is_kept(tmp_path: Path) -> None:
    """Cleaning never removes a folder another live process is still writing."""
    code = (
        "import sys, time\n"
        "from nlpsvc.artifacts import ArtifactWriter\n"
        f"w = ArtifactWriter({str(tmp_path)!r}, 'c', 'ngram').__enter__()\n"
        "(w.dir / 'half.bin').write_bytes(b'x' * 1000)\n"
        "print(w.dir.name, flush=True)\n"
        "time.sleep(60)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        live = tmp_path / "c" / "ngram" / writer.stdout.readline().strip()
        assert (live / "half.bin").is_file()
        stale = tmp_path / "c" / "ngram" / ".tmp-20200101T000000.000000Z-dead"
        stale.mkdir()  # left by a writer from before locks (no lock file at all)
        publish(tmp_path, "other")
        assert (live / "half.bin").is_file() and not stale.exists()
        assert clean_stale_temps(live.parent) == []
    finally:
        writer.kill()  # -9: no clean-up runs in the writer
        writer.wait()
    assert clean_stale_temps(live.parent) == [live.name]
    assert [p.name for p in live.parent.iterdir() if p.name.startswith(".")] == []


def test_unknown_kind_and_empty_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model kind"):
        ArtifactWriter(tmp_path, "c", "nope")
    with pytest.raises(ArtifactError, match="empty"), ArtifactWriter(tmp_path, "c", "ngram"):
        pass
    with pytest.raises(ArtifactError, match="no CURRENT"):
        load_current(tmp_path / "c" / "ngram")
