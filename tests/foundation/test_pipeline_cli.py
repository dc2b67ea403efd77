"""End to end through the CLI: train -> artifact -> reload -> same scores; eval, export, info."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpora import open_corpus
from nlpsvc import ngram
from nlpsvc.artifacts import load_current
from nlpsvc.cli import main as cli
from nlpsvc.scoring import LanguageModel
from tests.conftest import SHARED_DATA

PTB = SHARED_DATA / "ptb"


def test_train_reload_same_scores(models_root: Path, mini_corpus: Path) -> None:
    art = load_current(models_root / "mini" / "ngram")
    m = art.manifest
    assert m["kind"] == "ngram" and m["corpus"] == "mini"
    assert m["corpus_sha256"] == open_corpus(mini_corpus).sha256()
    assert m["text"] == {"tokenizer": "default", "lowercase": True, "normalize": "NFKC"}
    assert m["config"]["ngram"]["order"] == 3 and m["config"]["ngram"]["smoothing"] == "mkn"
    assert m["metrics"]["held_out_split"] == "valid" and m["metrics"]["perplexity"] > 1
    assert "model/" in next(iter(m["files"]))
    corpus = open_corpus(mini_corpus)
    fresh = ngram.train(corpus.sentences("train"), order=3, smoothing="mkn")
    loaded = ngram.load_artifact(art)
    held = list(corpus.sentences("test"))
    a = [s.log10_prob for s in fresh.score_batch(held)]
    b = [s.log10_prob for s in loaded.score_batch(held)]
    assert a == pytest.approx(b, abs=1e-9)
    assert loaded.evaluate(corpus.sentences("valid"))["perplexity"] == pytest.approx(
        m["metrics"]["perplexity"], rel=1e-9)


def test_eval_cli_matches_manifest(models_root: Path, mini_corpus: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    valid = tmp_path / "valid.txt"
    valid.write_text("\n".join(open_corpus(mini_corpus).lines("valid")) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert cli(["eval", "--models", str(models_root / "mini"), "--kind", "ngram",
                "--input", str(valid), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    manifest = load_current(models_root / "mini" / "ngram").manifest["metrics"]
    assert out["perplexity"] == pytest.approx(manifest["valid_perplexity"], rel=1e-9)
    assert out["tokens"] == manifest["valid_tokens"] and out["oov"] == manifest["valid_oov"]
    assert cli(["eval", "--models", str(models_root / "mini"), "--kind", "ngram",
                "--pairs", str(valid)]) == 1  # wrong input option for an LM: one-line error


def test_export_arpa_matches_kenlm(models_root: Path, tmp_path: Path) -> None:
    kenlm = pytest.importorskip("kenlm")
    arpa = tmp_path / "mini.arpa"
    assert cli(["export", "--models", str(models_root / "mini"), "--kind", "ngram",
                "--format", "arpa", "--output", str(arpa)]) == 0
    assert arpa.read_text(encoding="utf-8").lstrip().startswith("\\data\\")
    assert not list(tmp_path.glob(".*tmp"))
    ken = kenlm.Model(str(arpa))
    lm = LanguageModel.from_artifact(*_loaded(models_root))
    for text in ("alice was beginning to get very tired", "the queen said nothing"):
        ours = lm.score_texts([text])[0]["log10_prob"]
        assert ours == pytest.approx(ken.score(" ".join(lm.tokenizer(text))), abs=1e-4)


def _loaded(models_root: Path) -> tuple:
    art = load_current(models_root / "mini" / "ngram")
    return art, ngram.load_artifact(art)


def test_info(models_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["info", str(models_root / "mini" / "ngram")]) == 0
    out = capsys.readouterr().out
    assert "verification: OK" in out and "perplexity" in out
    assert cli(["info", str(models_root / "mini"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verified"] is True
    assert cli(["info", str(models_root / "nothing")]) == 1


def test_train_errors_are_one_line(mini_corpus: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "models"
    cases = [
        ["--set", "ngram.order=zero"],
        ["--set", "ngram.smoothing=magic"],
        ["--set", "ngram.ordr=4"],
        ["--set", "ngarm.order=4"],
        ["--set", "text.tokenizer=spacy"],
        ["--only", "nosuchkind"],
    ]
    for extra in cases:
        capsys.readouterr()
        assert cli(["train", str(mini_corpus), "--out", str(out), "-q", *extra]) == 1, extra
        err = capsys.readouterr().err.strip()
        assert err.startswith("nlpsvc train: error:") and "\n" not in err, err
    assert not out.exists() or not any(out.rglob("CURRENT"))  # nothing published
    assert cli(["train", str(tmp_path / "missing"), "--out", str(out)]) == 1


def test_train_set_and_config_file(mini_corpus: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[ngram]\norder = 2\nsmoothing = "witten_bell"\n', encoding="utf-8")
    out = tmp_path / "models"
    assert cli(["train", str(mini_corpus), "--only", "ngram", "--out", str(out), "-q",
                "--config", str(cfg), "--set", "ngram.order=4",
                "--set", "text.lowercase=false"]) == 0
    m = load_current(out / "mini" / "ngram").manifest
    assert m["config"]["ngram"]["order"] == 4  # --set beats --config
    assert m["config"]["ngram"]["smoothing"] == "witten_bell"
    assert m["text"]["lowercase"] is False
    assert cli(["train", str(mini_corpus), "--out", str(out), "--if-missing", "-q",
                "--only", "ngram"]) == 0
    assert len([p for p in (out / "mini" / "ngram").iterdir() if p.is_dir()]) == 1


@pytest.mark.shared_data("ptb")
def test_ptb_folder_trains_with_whitespace_tokenizer(tmp_path: Path) -> None:
    """PTB as given (train/valid/test files), order 2 for speed: the held-out split is 'valid'."""
    out = tmp_path / "models"
    assert cli(["train", str(PTB), "--only", "ngram", "--out", str(out), "-q",
                "--set", "text.tokenizer=whitespace", "--set", "ngram.order=2"]) == 0
    m = load_current(out / "ptb" / "ngram").manifest
    assert m["text"]["tokenizer"] == "whitespace"
    assert m["metrics"]["valid_tokens"] == 73760  # 70,390 words + 3,370 sentence ends
    assert m["metrics"]["test_tokens"] == 82430
    assert 100 < m["metrics"]["test_perplexity"] < 400


@pytest.mark.parametrize("smoothing", ["mle", "stupid_backoff"])
def test_arpa_copy_of_an_unrepresentable_model_fails_before_training(smoothing: str) -> None:
    from nlpsvc.config import ConfigError
    from nlpsvc.ngram.config import NgramConfig

    with pytest.raises(ConfigError, match="cannot represent"):
        NgramConfig(smoothing=smoothing, arpa=True).check()
    NgramConfig(smoothing="mkn", arpa=True).check()
