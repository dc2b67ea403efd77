"""ARPA export refuses models it cannot represent (stupid backoff, nltk-style MLE), unless lossy.

ARPA gives a context that is not stored backoff weight 1 (log10 0) and has no "these are not
probabilities" mark, so writing such a model and reading it back would change its scores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nlpsvc.cli import main as cli
from nlpsvc.ngram import ArpaExportError, NgramModel, train
from nlpsvc.ngram.counts import count_ngrams
from nlpsvc.ngram.estimators import get_estimator

SENTS = [s.split() for s in ("a b c", "a b", "b c a", "c c b a", "a a")]


def _mle_nltk_style() -> NgramModel:
    """MLE over nltk's own padding (missing context backoff -inf), as in the nltk oracle."""
    padded = [["<s>", "<s>", *s, "</s>", "</s>"] for s in SENTS]
    counts = count_ngrams(padded, 3, bos=False, eos=False)
    return NgramModel.from_tables(get_estimator("mle").fit(counts))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: train(SENTS, order=3, smoothing="stupid_backoff"),
         r"stupid_backoff as ARPA .*never saw with log10 weight -0\.39794.*not probabilities"),
        (lambda: train(SENTS, order=3, smoothing="mle"), r"mle as ARPA .*log10 weight -inf"),
        (_mle_nltk_style, r"mle as ARPA .*log10 weight -inf"),
    ],
)
def test_unrepresentable_models_are_refused(make, match, tmp_path: Path) -> None:
    lm = make()
    path = tmp_path / "m.arpa"
    with pytest.raises(ArpaExportError, match=match):
        lm.to_arpa(path)
    assert not path.exists()  # refused before the file is created


def test_lossy_opt_in_writes_and_the_loss_is_real(tmp_path: Path) -> None:
    lm = train(SENTS, order=3, smoothing="stupid_backoff")
    path = tmp_path / "m.arpa"
    lm.to_arpa(path, lossy=True)
    back = NgramModel.from_arpa(path)
    assert back.proper  # the "not probabilities" mark is gone
    # "c a" after the unseen context "b b": ours backs off twice with alpha, ARPA with 1.
    ours, arpa = lm.logprob("a", ["b", "b"]), back.logprob("a", ["b", "b"])
    assert arpa - ours == pytest.approx(-lm.to_tables().missing_backoff)
    # A stored full-length n-gram keeps its score.
    assert back.logprob("b", ["<s>", "a"]) == pytest.approx(lm.logprob("b", ["<s>", "a"]))


@pytest.mark.parametrize("smoothing", ["mkn", "witten_bell", "addk", "katz"])
def test_proper_backoff_models_still_export(smoothing: str, tmp_path: Path) -> None:
    params = {"discount_fallback": (0.5, 1.0, 1.5)} if smoothing == "mkn" else {}
    lm = train(SENTS, order=3, smoothing=smoothing, **params)
    lm.to_arpa(tmp_path / "m.arpa")
    back = NgramModel.from_arpa(tmp_path / "m.arpa")
    for h in (["b", "b"], ["<s>", "a"], ["c", "zz"]):
        assert back.logprob("a", h) == pytest.approx(lm.logprob("a", h), abs=1e-12)


def test_cli_export_refuses_with_one_line_and_non_zero_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "tiny"
    corpus.mkdir()
    lines = [" ".join(s) for s in SENTS] * 4
    (corpus / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (corpus / "test.txt").write_text("a b c\nb a\n", encoding="utf-8")
    models = tmp_path / "models"
    assert cli(["train", str(corpus), "--only", "ngram", "--out", str(models),
                "--set", "ngram.smoothing=stupid_backoff"]) == 0
    out = tmp_path / "sb.arpa"
    capsys.readouterr()
    args = ["export", "--models", str(models / "tiny"), "--kind", "ngram", "--format", "arpa",
            "--output", str(out)]
    assert cli(args) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "error: cannot write stupid_backoff as ARPA" in err
    assert "--lossy" in err
    assert not out.exists() and not list(tmp_path.glob(".*tmp"))
    assert cli([*args, "--lossy"]) == 0
    assert out.read_text(encoding="utf-8").startswith("\\data\\")
