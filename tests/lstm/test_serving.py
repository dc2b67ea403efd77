"""The LSTM LM from corpus to service: make train, the artifact, /score kind=lstm|mix, nlpsvc
eval and score; the 503s and the too-small corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from flask import Flask

from nlpsvc.artifacts import ArtifactError, load_current
from nlpsvc.cli import main as cli
from nlpsvc.lstm import load_artifact, load_mix
from tests.lstm.conftest import TRAIN_SETS

TEXTS = ["Alice was beginning to get very tired", "", "the qwertyuiop said"]


def test_artifact_holds_data_only_and_the_tuned_mix(lstm_models: Path) -> None:
    art = load_current(lstm_models / "mini" / "lstm")
    m = art.manifest
    assert set(m["files"]) == {"model.safetensors", "config.json", "vocab.json", "curves.png"}
    assert m["config"]["lstm"]["hidden_size"] == 24 and m["curves"][0]["epoch"] == 1
    for key in ("perplexity", "valid_perplexity", "test_perplexity", "valid_tokens",
                "test_perplexity_carry_state"):
        assert m["metrics"][key] > 0
    mix = m["mix"]
    ngram = load_current(lstm_models / "mini" / "ngram")
    assert mix["ngram_version"] == ngram.version and 0.0 <= mix["lambda"] <= 1.0
    # λ was tuned on validation: the mix is no worse there than either model
    assert mix["mix_valid_perplexity"] <= min(mix["ngram_valid_perplexity"],
                                              m["metrics"]["valid_perplexity"]) + 1e-6
    assert not (lstm_models / "mini" / "lstm" / ".checkpoint").exists()


def test_score_lstm_and_mix(make_app, lstm_models: Path) -> None:  # noqa: ANN001
    client = make_app(lstm_models).test_client()
    ngram = client.post("/score", json={"texts": TEXTS, "per_token": True}).get_json()
    for kind in ("lstm", "mix"):
        resp = client.post("/score", json={"texts": TEXTS, "kind": kind, "per_token": True})
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["kind"] == kind and body["model"] == "mini"
        for got, want in zip(body["results"], ngram["results"], strict=True):
            assert [t["token"] for t in got["per_token"]] == [t["token"] for t in want["per_token"]]
            assert got["tokens"] == want["tokens"] and got["perplexity"] > 1
        assert [t["token"] for t in body["results"][1]["per_token"]] == ["</s>"]
        assert body["results"][2]["oov"] >= 1


def _without(lstm_models: Path, tmp_path: Path, kind: str) -> Path:
    root = tmp_path / "models"
    shutil.copytree(lstm_models, root)
    shutil.rmtree(root / "mini" / kind)
    return root


@pytest.mark.parametrize("missing", ["lstm", "ngram"])
def test_503_names_the_missing_model(make_app, lstm_models: Path, tmp_path: Path,  # noqa: ANN001
                                     missing: str) -> None:
    app: Flask = make_app(_without(lstm_models, tmp_path, missing))
    client = app.test_client()
    resp = client.post("/score", json={"text": "a b", "kind": "mix"})
    err = resp.get_json()["error"]
    assert resp.status_code == 503 and err["code"] == "model_unavailable"
    assert f"not loaded: {missing}" in err["message"]
    if missing == "lstm":
        resp = client.post("/score", json={"text": "a b", "kind": "lstm"})
        assert resp.status_code == 503 and "lstm" in resp.get_json()["error"]["message"]
    if missing == "ngram":  # offline too (nlpsvc eval|score --kind mix)
        with pytest.raises(ArtifactError, match="mix needs an ngram model in model set 'mini'"):
            load_mix(load_current(tmp_path / "models" / "mini" / "lstm"))


def test_cli_eval_and_score(lstm_models: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "held.txt"
    text.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    figures = {}
    for kind in ("ngram", "lstm", "mix"):
        capsys.readouterr()
        assert cli(["eval", "--models", str(lstm_models / "mini"), "--kind", kind,
                    "--input", str(text), "--json"]) == 0
        figures[kind] = json.loads(capsys.readouterr().out)
        assert figures[kind]["perplexity"] > 1
    assert figures["lstm"]["tokens"] == figures["ngram"]["tokens"] == figures["mix"]["tokens"]
    assert figures["lstm"]["oov"] == figures["ngram"]["oov"]
    lm = load_artifact(load_current(lstm_models / "mini" / "lstm"))
    out = tmp_path / "out.jsonl"
    for kind in ("lstm", "mix"):
        assert cli(["score", "--models", str(lstm_models), "--input", str(text), "--output",
                    str(out), "--kind", kind, "-q"]) == 0
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert [r["text"] for r in rows] == TEXTS and rows[1]["tokens"] == 1  # "" is </s>
    assert rows[0]["tokens"] == lm.score("alice was beginning to get very tired".split()).tokens


def test_corpus_smaller_than_one_bptt_batch(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "tiny"
    corpus.mkdir()
    (corpus / "train.txt").write_text("the cat sat\nthe dog ran\n", encoding="utf-8")
    (corpus / "valid.txt").write_text("the cat ran\n", encoding="utf-8")
    out = tmp_path / "models"
    assert cli(["train", str(corpus), "--only", "lstm", "--out", str(out), "-q",
                *TRAIN_SETS]) == 1
    err = capsys.readouterr().err
    assert "fewer than one BPTT batch" in err and "lstm.batch_size" in err
    assert not any(out.rglob("CURRENT"))
