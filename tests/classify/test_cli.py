"""``nlpsvc eval --kind classifier`` and ``nlpsvc score --kind classifier`` reach this package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlpsvc import batch, cli
from tests.classify.conftest import read_trec, write_tsv


def test_cli_eval_json(trec_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    p = write_tsv(tmp_path / "labeled.tsv", read_trec("TREC_10.label", 200))
    rc = cli.main(["eval", "--models", str(trec_models), "--kind", "classifier",
                   "--input", str(p), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.5 < out["accuracy"] <= 1 and 0 < out["macro_f1"] <= 1 and out["n"] == 200


def test_cli_eval_unseen_label_fails_with_one_line(trec_models: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    p = write_tsv(tmp_path / "labeled.tsv", [("HUM", "Who ?"), ("COLOR", "Which color ?")])
    rc = cli.main(["eval", "--models", str(trec_models), "--kind", "classifier",
                   "--input", str(p), "--json"])
    assert rc == 1 and "never seen in training: 'COLOR'" in capsys.readouterr().err


def test_batch_score_writes_classify_rows_in_order(trec_models: Path, tmp_path: Path) -> None:
    inp = tmp_path / "in.txt"
    inp.write_text("Who wrote Hamlet ?\nHow many miles to Rome ?\n   \nWhat is love ?\n",
                   encoding="utf-8")
    out = tmp_path / "out.jsonl"
    stats = batch.score_file(trec_models, inp, out, kind="classifier", progress=False,
                             options={"top_k": 2})
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert stats["lines"] == 4 and len(rows) == 4
    assert rows[0]["labels"][0]["label"] == "HUM" and len(rows[0]["labels"]) == 2
    assert rows[1]["labels"][0]["label"] == "NUM"
