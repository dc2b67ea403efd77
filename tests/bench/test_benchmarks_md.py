"""BENCHMARKS.md is what the stored bench results render to, nothing typed by hand (issue 14).

Each converted suite stores its results in ``bench/results/<suite>.json`` and renders its section
from that JSON; here every stored result is rendered again and compared byte for byte with the
section in BENCHMARKS.md, so a hand edit of a figure (or of the prose around it) fails.
"""

from __future__ import annotations

import json

import pytest

from bench import report
from bench.run import SUITES, suite_module


def test_every_section_belongs_to_a_suite() -> None:
    names = list(report.sections())
    assert names, "BENCHMARKS.md has no section"
    assert len(names) == len(set(names)), "a section appears twice"
    assert set(names) <= set(SUITES), f"sections of no suite: {set(names) - set(SUITES)}"


def test_every_section_is_what_its_stored_results_render_to() -> None:
    problems = []
    for name, written in report.sections().items():
        doc = report.load(name)
        render = getattr(suite_module(name), "render", None)
        if doc is None or render is None:
            problems.append(f"{name}: no bench/results/{name}.json or no render(results)")
        elif report.section(doc, render) != written:
            problems.append(f"{name}: not what bench/results/{name}.json renders to (edited by "
                            f"hand?); `python -m bench.run --render --only {name}` rewrites it")
    assert not problems, "\n".join(problems)


def test_stored_results_have_a_section() -> None:
    stored = {p.stem for p in report.RESULTS.glob("*.json")} & set(SUITES)
    missing = stored - set(report.sections())
    assert not missing, f"stored results with no section in BENCHMARKS.md: {missing}"


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "BENCHMARKS", tmp_path / "BENCHMARKS.md")
    monkeypatch.setattr(report, "RESULTS", tmp_path / "results")
    return tmp_path


def _render(results: dict) -> str:
    return report.table(["x", "pair"], [[results["x"], results["pair"]]]) + f"\n\n{results['n']}"


def test_publish_stores_then_renders_from_the_stored_json(scratch) -> None:
    report.publish("a", "Suite A", {"x": 0.1 + 0.2, "pair": (1, 2), "n": 3}, _render, "cmd a")
    report.publish("b", "Suite B", {"x": 1.5, "pair": [3], "n": 4}, _render, "cmd b")
    doc = json.loads((scratch / "results" / "a.json").read_text())
    assert {"command", "machine", "date", "commit"} <= set(doc)
    assert doc["results"] == {"x": 0.30000000000000004, "pair": [1, 2], "n": 3}
    assert not list((scratch / "results").glob(".*tmp"))  # atomic write leaves nothing behind
    text = (scratch / "BENCHMARKS.md").read_text()
    assert text.startswith(report.HEADER)
    assert "| 0.30000000000000004 | [1, 2] |" in text  # rendered from the JSON (list, not tuple)
    assert "Command: `cmd a` · machine: " in text
    assert list(report.sections(text)) == ["a", "b"]


def test_render_stored_undoes_a_hand_edit_and_leaves_other_sections(scratch) -> None:
    report.publish("a", "Suite A", {"x": 7, "pair": [], "n": 1}, _render, "cmd")
    report.publish("b", "Suite B", {"x": 8, "pair": [], "n": 2}, _render, "cmd")
    path = scratch / "BENCHMARKS.md"
    clean = path.read_text()
    path.write_text(clean.replace("| 7 |", "| 9 |").replace("| 8 |", "| 6 |"))
    doc = report.load("a")
    assert report.section(doc, _render) != report.sections()["a"]  # the check sees the edit
    assert report.render_stored("a", _render)
    assert report.sections()["a"] == report.sections(clean)["a"]
    assert "| 6 |" in report.sections()["b"]  # only section a was rewritten
    assert not report.render_stored("missing", _render)


def test_load_refuses_a_file_that_is_not_a_stored_result(scratch) -> None:
    (scratch / "results").mkdir()
    (scratch / "results" / "a.json").write_text('{"kn5": 141.2}')
    with pytest.raises(ValueError, match="not a stored bench result"):
        report.load("a")
