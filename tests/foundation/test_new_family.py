"""Adding a model family is one entry in nlpsvc.kinds plus its package (issue 14).

A toy family (a package with a pipeline, a config dataclass, ``load_artifact``, ``cli_export``
and a blueprint) is declared by inserting one ``Family(...)`` line into a copy of
``nlpsvc/kinds.py``, loaded as ``nlpsvc.kinds`` before anything else imports it, in a fresh
process. With no other change it trains (``--only toy``, its ``--set`` keys checked), is listed
by ``info``, exported, loaded by the service and served by its blueprint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nlpsvc.kinds

TOY = '''
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from flask import Blueprint, jsonify

from pipelines.base import Pipeline


@dataclass
class ToyConfig:
    size: int = 2

    def check(self) -> None:
        if self.size < 1:
            raise ValueError("toy.size must be at least 1")


def load_artifact(artifact):
    return artifact.file("words.txt").read_text().split()


def cli_export(artifact, fmt, output):
    Path(output).write_text(fmt + " " + " ".join(load_artifact(artifact)))


class ToyPipeline(Pipeline):
    kind = "toy"

    def has_data(self, corpus):
        return corpus.has_text

    def run(self, ctx):
        started = time.perf_counter()
        cfg = self.config(ctx)
        words = sorted({w for s in ctx.corpus.sentences("train") for w in s})[:cfg.size]
        return self.publish(ctx, lambda d: (d / "words.txt").write_text(" ".join(words)),
                            config=asdict(cfg), metrics={"words": len(words)},
                            started=started, metric="words")


bp = Blueprint("toy", __name__)


@bp.get("/toy")
def toy():
    from nlpsvc.service import registry

    name, loaded = registry().get("toy")
    return jsonify({"model": name, "words": loaded.model})
'''

ENTRY = ('    Family("toy", "toyfam", "toyfam:ToyPipeline", "toyfam:ToyConfig", "toyfam"),\n')

DRIVER = '''
import importlib.util, json, sys
from pathlib import Path

kinds_copy, corpus, out = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("nlpsvc.kinds", kinds_copy)
module = importlib.util.module_from_spec(spec)
sys.modules["nlpsvc.kinds"] = module
spec.loader.exec_module(module)

from nlpsvc.cli import main as cli
from nlpsvc.service import create_app

res = {"kinds": list(module.KINDS)}
res["bad_set"] = cli(["train", corpus, "--only", "toy", "--out", out, "-q",
                      "--set", "toy.size=0"])
res["train"] = cli(["train", corpus, "--only", "toy", "--out", out, "-q",
                    "--set", "toy.size=3"])
set_dir = Path(out) / "mini"
res["info"] = cli(["info", str(set_dir / "toy")])
res["export"] = cli(["export", "--models", str(set_dir), "--kind", "toy", "--format",
                     "word2vec", "--output", str(Path(out) / "toy.txt")])
res["exported"] = (Path(out) / "toy.txt").read_text()
app = create_app({"MODELS_DIR": out, "REQUEST_LOG": "off", "METRICS": False})
res["served"] = app.test_client().get("/toy").get_json()
print(json.dumps(res))
'''


def test_a_new_family_is_one_registry_entry(tmp_path: Path, mini_corpus: Path) -> None:
    source = Path(nlpsvc.kinds.__file__).read_text(encoding="utf-8")
    anchor = "FAMILIES: tuple[Family, ...] = (\n"
    assert source.count(anchor) == 1
    kinds_copy = tmp_path / "kinds.py"
    kinds_copy.write_text(source.replace(anchor, anchor + ENTRY), encoding="utf-8")
    (tmp_path / "toyfam").mkdir()
    (tmp_path / "toyfam" / "__init__.py").write_text(TOY, encoding="utf-8")
    out = tmp_path / "models"
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(kinds_copy), str(mini_corpus), str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["kinds"][0] == "toy" and "ngram" in res["kinds"]
    assert res["bad_set"] == 1 and "toy.size must be at least 1" in proc.stderr
    assert res["train"] == res["info"] == res["export"] == 0
    words = (out / "mini" / "toy").glob("*/words.txt")
    expected = next(words).read_text().split()
    assert len(expected) == 3
    assert res["exported"] == "word2vec " + " ".join(expected)
    assert res["served"] == {"model": "mini", "words": expected}
