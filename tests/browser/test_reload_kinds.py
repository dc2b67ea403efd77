"""Hot reload of every kind (issue 13), in-process over the browser tests' all-kinds set: each
family's loader and smoke query run on the new version before it is swapped in."""

from __future__ import annotations

import shutil
from pathlib import Path

from nlpsvc.service import create_app
from nlpsvc.service.reload import Reloader
from tests.foundation.test_reload import publish_copy

KINDS = ("ngram", "lstm", "embeddings", "classifier", "chatbot")


def test_every_kind_is_reloaded(browser_models: Path, tmp_path: Path) -> None:
    models = Path(shutil.copytree(browser_models, tmp_path / "models"))
    (name,) = [p.name for p in models.iterdir() if (p / "ngram" / "CURRENT").is_file()]
    app = create_app({"MODELS_DIR": str(models), "REQUEST_LOG": "off", "TESTING": True})
    client = app.test_client()
    reloader = Reloader(app.extensions["nlpsvc"])
    new = {kind: publish_copy(models / name / kind, f"29991231T000000.000000Z-{kind[:4]}")
           for kind in KINDS}
    swapped = reloader.check()
    assert sorted((k, v) for _, k, v in swapped) == sorted(new.items())
    served = {m["kind"]: m["version"] for m in client.get("/models").get_json()["models"]}
    assert served == new
    for kind in ("ngram", "lstm", "mix"):
        assert client.post("/score", json={"text": "the queen", "kind": kind}).status_code == 200
    assert client.post("/similar", json={"word": "the"}).status_code == 200
    assert client.post("/classify", json={"text": "the sea"}).status_code == 200
    assert client.post("/reply", json={"message": "hello", "beam": 1}).status_code == 200
    assert client.get("/ready").get_json()["errors"] == []
