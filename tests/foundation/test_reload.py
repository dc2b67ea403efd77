"""Hot reload (issue 13): a new CURRENT is verified, then swapped in; a bad one never is."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from nlpsvc.artifacts import atomic_write_text
from nlpsvc.cli import main as cli
from nlpsvc.service.metrics import metrics
from nlpsvc.service.reload import Reloader


@pytest.fixture
def models(models_root: Path, tmp_path: Path) -> Path:
    """A private copy of the session's models (these tests publish into it)."""
    return Path(shutil.copytree(models_root, tmp_path / "models"))


def publish_copy(kind_dir: Path, name: str, corrupt: bool = False,
                 source: str | None = None) -> str:
    """Publish ``source`` (default: the current version) again under ``name``, optionally with
    a file damaged."""
    current = source or (kind_dir / "CURRENT").read_text().strip()
    shutil.copytree(kind_dir / current, kind_dir / name)
    manifest = kind_dir / name / "manifest.json"
    manifest.write_text(manifest.read_text().replace(current, name))
    if corrupt:
        victim = next(p for p in sorted((kind_dir / name).rglob("*.npy")))
        victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    atomic_write_text(kind_dir / "CURRENT", name + "\n")
    return name


def score_version(client) -> str:  # noqa: ANN001
    resp = client.post("/score", json={"text": "the queen"})
    assert resp.status_code == 200
    return resp.get_json()["version"]


def test_new_version_is_swapped_in(make_app, models: Path, mini_corpus: Path) -> None:  # noqa: ANN001
    app = make_app(models, REQUEST_LOG="off")
    client = app.test_client()
    reg = app.extensions["nlpsvc"]
    reloader = Reloader(reg, on_swap=metrics().serving)  # as create_app wires it
    old = score_version(client)
    assert reloader.check() == []  # nothing changed
    assert cli(["train", str(mini_corpus), "--only", "ngram", "--out", str(models), "-q"]) == 0
    new = (models / "mini" / "ngram" / "CURRENT").read_text().strip()
    assert new != old
    assert reloader.check() == [("mini", "ngram", new)]
    assert score_version(client) == new
    served = {m["kind"]: m["version"] for m in client.get("/models").get_json()["models"]}
    assert served["ngram"] == new
    exposed = client.get("/metrics").get_data(as_text=True)
    assert f'kind="ngram",model="mini",version="{new}"}} 1.0' in exposed
    assert f'kind="ngram",model="mini",version="{old}"}} 0.0' in exposed
    assert reloader.check() == []  # once per publish


def test_failed_verification_keeps_the_old_version(make_app, models: Path) -> None:  # noqa: ANN001
    app = make_app(models, REQUEST_LOG="off")
    client = app.test_client()
    reloader = Reloader(app.extensions["nlpsvc"])
    old = score_version(client)
    kind_dir = models / "mini" / "ngram"
    bad = publish_copy(kind_dir, "29991231T000000.000000Z-bad1", corrupt=True)
    assert reloader.check() == []
    assert score_version(client) == old
    ready = client.get("/ready")
    assert ready.status_code == 200  # still serving
    (error,) = ready.get_json()["errors"]
    assert error["version"] == bad and error["serving"] == old
    assert "sha256" in error["error"] or "size" in error["error"]
    assert str(models) not in error["error"]  # no server paths in /ready
    assert reloader.check() == []  # not retried every poll
    good = publish_copy(kind_dir, "29991231T000000.000001Z-good", source=old)
    assert reloader.check() == [("mini", "ngram", good)]
    assert score_version(client) == good
    assert client.get("/ready").get_json()["errors"] == []


def test_a_model_that_fails_to_load_is_not_swapped_in(make_app, models: Path) -> None:  # noqa: ANN001
    """Hashes fine, loader fails (e.g. saved by an incompatible version): old one serves."""
    app = make_app(models, REQUEST_LOG="off")
    client = app.test_client()
    reloader = Reloader(app.extensions["nlpsvc"])
    old = score_version(client)
    kind_dir = models / "mini" / "ngram"
    name = publish_copy(kind_dir, "29991231T000000.000000Z-noload")
    header = next((kind_dir / name).rglob("header.json"), None)
    if header is None:
        pytest.skip("the n-gram layout has no header.json to break")
    # keep the manifest's hash right: the loader, not verify(), must reject it
    import hashlib
    import json
    header.write_text("{}")
    manifest_path = kind_dir / name / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    rel = str(header.relative_to(kind_dir / name))
    manifest["files"][rel] = {"size": 2, "sha256": hashlib.sha256(b"{}").hexdigest()}
    manifest_path.write_text(json.dumps(manifest))
    assert reloader.check() == []
    assert score_version(client) == old
    assert client.get("/ready").get_json()["errors"][0]["version"] == name


def test_poller_thread_picks_up_a_publish(make_app, models: Path) -> None:  # noqa: ANN001
    app = make_app(models, REQUEST_LOG="off", RELOAD_INTERVAL=0.05)
    client = app.test_client()
    try:
        name = publish_copy(models / "mini" / "ngram", "29991231T000000.000000Z-poll")
        deadline = time.monotonic() + 5
        while score_version(client) != name:
            assert time.monotonic() < deadline, "not swapped in within 5 s"
            time.sleep(0.02)
    finally:
        app.extensions["nlpsvc.reload"].stop()


def test_new_kind_published_after_start(make_app, models: Path, tmp_path: Path) -> None:  # noqa: ANN001
    """A set gaining a kind (or a new set) after start-up is served without a restart."""
    extra = Path(shutil.copytree(models / "mini", tmp_path / "extra"))
    app = make_app(models, REQUEST_LOG="off")
    reloader = Reloader(app.extensions["nlpsvc"])
    shutil.copytree(extra, models / "second")
    swapped = reloader.check()
    assert [(s, k) for s, k, _ in swapped] == [("second", "ngram")]
    resp = app.test_client().post("/score", json={"text": "the", "model": "second"})
    assert resp.status_code == 200
