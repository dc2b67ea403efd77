"""Optional training paths and settings: Adam, word2vec init, end-of-line row, punctuation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlpsvc.classify import ClassifierConfig
from nlpsvc.classify.fasttext import FastTextClassifier
from nlpsvc.text import TextConfig
from tests.classify.conftest import TINY, read_trec


def _data(n: int = 500) -> tuple[list[str], list[list[str]], list[str]]:
    rows = read_trec("train_5500.label", n)
    return [t for _, t in rows], [[lab] for lab, _ in rows], sorted({lab for lab, _ in rows})


def test_adam_trains_and_learns() -> None:
    texts, labels, classes = _data(800)
    cfg = ClassifierConfig(**{**TINY, "optimizer": "adam", "lr": 0.01, "epochs": 3,
                              "buckets": 1 << 12})
    m = FastTextClassifier(cfg, TextConfig()).fit(texts, labels, classes=classes,
                                                  multilabel=False)
    p, _ = m.predict_proba(texts)
    gold = np.array([ls[0] for ls in labels])
    assert np.mean(np.array(classes)[p.argmax(1)] == gold) > 0.7  # training accuracy


@pytest.mark.parametrize("form", ["kv", "word2vec", "word2vec-binary"])
def test_word_rows_start_from_word2vec_vectors(tmp_path: Path, form: str) -> None:
    from gensim.models import KeyedVectors

    texts, labels, classes = _data()
    kv = KeyedVectors(vector_size=TINY["dim"])
    rng = np.random.default_rng(0)
    words = ["what", "who", "how", "zzz-not-in-corpus"]
    kv.add_vectors(words, rng.normal(size=(4, TINY["dim"])).astype(np.float32))
    path = tmp_path / "vectors"
    if form == "kv":
        kv.save(str(path))
    else:
        kv.save_word2vec_format(str(path), binary=form == "word2vec-binary")
    # lr ~ 0: the rows stay where the vectors put them
    cfg = ClassifierConfig(**{**TINY, "epochs": 1, "lr": 1e-12, "pretrained": str(path)})
    m = FastTextClassifier(cfg, TextConfig()).fit(texts, labels, classes=classes,
                                                  multilabel=False)
    assert m.pretrained_words_ == 3
    vocab = m.featurizer_.index
    weight = m.module_.embedding.weight.detach().numpy()
    row_map = m.module_.row_map.numpy()
    for w in ("what", "who", "how"):
        np.testing.assert_allclose(weight[row_map[vocab[w]]], kv[w], atol=1e-5)


def test_pretrained_missing_is_skipped_and_wrong_size_is_an_error(tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    texts, labels, classes = _data(200)
    cfg = ClassifierConfig(**{**TINY, "epochs": 1, "pretrained": str(tmp_path / "none.kv")})
    m = FastTextClassifier(cfg, TextConfig()).fit(texts, labels, classes=classes,
                                                  multilabel=False)
    assert m.pretrained_words_ == 0
    kv = KeyedVectors(vector_size=7)
    kv.add_vectors(["what"], np.ones((1, 7), dtype=np.float32))
    kv.save(str(tmp_path / "seven.kv"))
    cfg = ClassifierConfig(**{**TINY, "epochs": 1, "pretrained": str(tmp_path / "seven.kv")})
    with pytest.raises(ValueError, match="size 7.*classifier.dim=7"):
        FastTextClassifier(cfg, TextConfig()).fit(texts, labels, classes=classes,
                                                  multilabel=False)


def test_linear_punct_false_drops_punctuation_only_tokens() -> None:
    from nlpsvc.classify.linear import WordTokens
    from nlpsvc.text import Tokenizer

    text = "> > Re: it's 3.5 -- ok?!"
    kept = WordTokens(Tokenizer(), punct=True)(text)
    dropped = WordTokens(Tokenizer(), punct=False)(text)
    assert ">" in kept and "?" in kept
    assert dropped == [t for t in kept if any(c.isalnum() or c == "_" for c in t)]
    assert "it's" in dropped and "re" in dropped


def test_eos_row_is_in_every_non_blank_bag() -> None:
    from nlpsvc.classify.features import EOS, Featurizer

    f = Featurizer(TextConfig(), word_ngrams=1, buckets=10, eos=True).fit(["a b", "b"])
    bags = f.transform(["a", "", "zz"])
    eos = f.index[EOS]
    assert bags.lengths.tolist() == [2, 0, 1] and bags.empty.tolist() == [False, True, False]
    assert bags.ids.tolist() == [f.index["a"], eos, eos]
