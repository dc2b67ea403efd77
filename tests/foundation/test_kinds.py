"""The model kinds are declared once (nlpsvc.kinds); every other list of them derives from it."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from nlpsvc import kinds

ROOT = Path(__file__).resolve().parents[2]
FAMILY_KINDS = tuple(f.kind for f in kinds.FAMILIES)
EVERY_KIND = {*FAMILY_KINDS, *(d.kind for d in kinds.DERIVED)}


def test_derived_lists_equal_the_registry() -> None:
    from nlpsvc import artifacts, batch, cli
    from nlpsvc.service import BLUEPRINTS
    from nlpsvc.service.registry import FAMILIES
    from nlpsvc.service.score import LM_KINDS as SCORE_KINDS
    from pipelines import PIPELINES

    assert kinds.KINDS == FAMILY_KINDS == artifacts.KINDS
    assert FAMILIES == {f.kind: f.package for f in kinds.FAMILIES}
    assert list(PIPELINES.items()) == [(f.kind, f.pipeline) for f in kinds.FAMILIES]
    family_blueprints = [b for b in BLUEPRINTS if any(f.blueprint == b for f in kinds.FAMILIES)]
    assert family_blueprints == list(dict.fromkeys(f.blueprint for f in kinds.FAMILIES))
    assert {f.blueprint for f in kinds.FAMILIES} <= set(BLUEPRINTS)
    lm = tuple(f.kind for f in kinds.FAMILIES if f.lm) + tuple(d.kind for d in kinds.DERIVED)
    assert kinds.LM_KINDS == SCORE_KINDS == lm == ("ngram", "lstm", "mix")
    assert kinds.BATCH_KINDS == (*lm, *(f.kind for f in kinds.FAMILIES if f.batch))
    assert not hasattr(batch, "KIND_PACKAGES")
    assert batch.LM_KINDS is cli.LM_KINDS is kinds.LM_KINDS  # imported, not spelled again


def test_cli_choices_come_from_the_registry() -> None:
    from nlpsvc.cli import build_parser

    commands = next(a for a in build_parser()._actions if a.dest == "command").choices

    def choices(command: str) -> tuple[str, ...]:
        return tuple(next(a for a in commands[command]._actions if a.dest == "kind").choices)

    assert choices("score") == kinds.BATCH_KINDS == ("ngram", "lstm", "mix", "classifier")
    assert choices("eval") == kinds.EVAL_KINDS == (*FAMILY_KINDS, "mix")
    assert choices("export") == kinds.KINDS


@pytest.mark.parametrize("family", kinds.FAMILIES, ids=lambda f: f.kind)
def test_each_entry_names_what_exists(family: kinds.Family) -> None:
    """Package, pipeline, config dataclass (in nlpsvc/<family>/config.py), blueprint, hooks."""
    package = kinds.package(family.kind)
    assert callable(package.load_artifact)
    assert kinds.load(family.pipeline).kind == family.kind
    config = kinds.config_class(family.kind)
    assert dataclasses.is_dataclass(config)
    assert family.config.startswith(f"{family.package}.config:"), "nlpsvc/<family>/config.py"
    assert hasattr(importlib.import_module(family.blueprint), "bp")
    assert family.batch == hasattr(package, "batch_classify")


def test_derived_kinds_load_from_their_artifact_family() -> None:
    for d in kinds.DERIVED:
        assert set(d.needs) <= set(kinds.LM_FAMILIES) and d.artifact in d.needs
        assert kinds.artifact_kind(d.kind) == d.artifact
        assert callable(getattr(kinds.package(d.artifact), d.loader))
    assert kinds.artifact_kind("ngram") == "ngram"
    with pytest.raises(ValueError, match="unknown model kind 'nope'; expected one of ngram"):
        kinds.family("nope")


def test_family_config_validates_every_family_in_one_place() -> None:
    from nlpsvc.config import ConfigError, family_config

    for f in kinds.FAMILIES:
        assert isinstance(family_config(f.kind, {}), kinds.config_class(f.kind))
        with pytest.raises(ConfigError, match=f"unknown config key\\(s\\) {f.kind}.nope"):
            family_config(f.kind, {"nope": 1})
    with pytest.raises(ConfigError, match="ngram.order must be an integer in 1..10"):
        family_config("ngram", {"order": 0})  # the dataclass's check()
    with pytest.raises(ConfigError, match=r"\[lstm\] optimizer 'x'"):
        family_config("lstm", {"optimizer": "x"})  # its __post_init__
    with pytest.raises(ConfigError, match="embeddings.window must be between"):
        family_config("embeddings", {"window": 0})


def _kind_lists(path: Path) -> list[int]:
    """Lines of ``path`` holding a literal tuple, list, set or dict (keys) that spells three or
    more kinds: a list of kinds written out again."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        else:
            continue
        spelled = {i.value for i in items if isinstance(i, ast.Constant)} & EVERY_KIND
        if len(spelled) >= 3:
            found.append(node.lineno)
    return found


def test_no_other_module_spells_the_kinds(tmp_path: Path) -> None:
    sources = [p for folder in ("nlpsvc", "pipelines", "corpora")
               for p in sorted((ROOT / folder).rglob("*.py"))]
    assert ROOT / "nlpsvc" / "kinds.py" in sources and len(sources) > 50
    offenders = {str(p.relative_to(ROOT)): lines for p in sources
                 if p.name != "kinds.py" and (lines := _kind_lists(p))}
    assert offenders == {}
    probe = tmp_path / "probe.py"  # the scanner sees what this test forbids
    probe.write_text('A = ("ngram", "lstm", "mix")\nB = {"ngram": 1, "chatbot": 2, "lstm": 3}\n'
                     'C = ["lstm", "ngram"]\n')
    assert _kind_lists(probe) == [1, 2]


def test_importing_the_cli_loads_no_model_code() -> None:
    code = ("import sys, nlpsvc.cli\n"
            "heavy = {'torch', 'gensim', 'numpy', 'flask', 'pipelines', 'nlpsvc.ngram'}\n"
            "print(sorted(heavy & set(sys.modules)), 'nlpsvc.kinds' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True"]
