"""Training loop: early stopping, best checkpoint, resume after interruption, save/reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nlpsvc.chatbot.bot import Chatbot
from nlpsvc.chatbot.data import encode_pairs
from nlpsvc.chatbot.model import Seq2Seq
from nlpsvc.chatbot.train import TrainConfig, fit, plot_curves
from nlpsvc.chatbot.vocab import Vocab
from tests.datafiles import assert_data_only

from .conftest import tiny_config


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def small(real_pairs: list) -> tuple[Vocab, list, list]:
    pairs = real_pairs[:120]
    vocab = Vocab.build((s for p in pairs for s in p), min_count=2)
    data = encode_pairs(pairs, vocab)
    return vocab, data[20:], data[:20]


def _model(vocab: Vocab) -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(tiny_config(len(vocab), dropout=0.2))


def test_resume_after_interruption_gives_the_same_model(tmp_path: Path, small: tuple) -> None:
    vocab, train, valid = small
    cfg = TrainConfig(epochs=3, batch_size=16, lr=5e-3, seed=5, patience=10)
    straight = _model(vocab)
    ref = fit(straight, train, valid, cfg, tmp_path / "a", progress=False)

    def stop_after_two(row: dict) -> None:
        if row["epoch"] == 2:
            raise Interrupt

    model = _model(vocab)
    with pytest.raises(Interrupt):
        fit(model, train, valid, cfg, tmp_path / "b", progress=False, on_epoch=stop_after_two)
    resumed = _model(vocab)  # a fresh process: weights come from the checkpoint
    res = fit(resumed, train, valid, cfg, tmp_path / "b", progress=False)
    assert res.resumed_from == 2
    assert [r["epoch"] for r in res.history] == [1, 2, 3]
    assert [r["valid_loss"] for r in res.history] == [r["valid_loss"] for r in ref.history]
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_unusable_checkpoint_starts_afresh(tmp_path: Path, small: tuple,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """A last.json naming another epoch than last.safetensors (a crash between the two), or an
    older nlpsvc's pickled last.pt, is not resumed from."""
    vocab, train, valid = small
    cfg = TrainConfig(epochs=1, batch_size=16, lr=5e-3, seed=5)
    fit(_model(vocab), train, valid, cfg, tmp_path, progress=False)
    meta = json.loads((tmp_path / "last.json").read_text(encoding="utf-8"))
    (tmp_path / "last.json").write_text(json.dumps({**meta, "epoch": 7, "finished": False}),
                                        encoding="utf-8")
    more = TrainConfig(epochs=2, batch_size=16, lr=5e-3, seed=5)
    assert fit(_model(vocab), train, valid, more, tmp_path, progress=False).resumed_from == 0
    assert "holds epoch 1" in caplog.text
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    torch.save({"epoch": 1}, legacy / "last.pt")
    assert fit(_model(vocab), train, valid, cfg, legacy, progress=False).resumed_from == 0
    assert "older nlpsvc" in caplog.text


def test_early_stopping_keeps_the_best_epoch(tmp_path: Path, small: tuple) -> None:
    vocab, train, valid = small
    # a large learning rate with no decay overfits 100 pairs fast: validation gets worse
    cfg = TrainConfig(epochs=12, batch_size=16, lr=3e-2, lr_schedule="none", patience=1, seed=1)
    model = _model(vocab)
    res = fit(model, train, valid, cfg, tmp_path, progress=False)
    assert res.stopped == "early_stopping"
    best = min(r["valid_ppl"] for r in res.history)
    assert res.best_valid_ppl == pytest.approx(best, rel=1e-3)
    assert res.history[res.best_epoch - 1]["valid_ppl"] == best
    assert len(res.history) == res.best_epoch + 2  # patience 1: two bad epochs in a row
    # the returned model holds the best weights, not the last
    from safetensors.torch import load_file

    best_state = load_file(tmp_path / "best.safetensors")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in best_state.items())
    assert_data_only(tmp_path)  # the checkpoint folder holds no pickle either


def test_time_budget_stops_training(tmp_path: Path, small: tuple) -> None:
    vocab, train, valid = small
    cfg = TrainConfig(epochs=50, batch_size=16, max_minutes=1e-4)
    res = fit(_model(vocab), train, valid, cfg, tmp_path, progress=False)
    assert res.stopped == "time_budget" and len(res.history) == 1
    assert res.history[0]["partial"]


def test_lr_decays_on_plateau_and_exponentially(tmp_path: Path, small: tuple) -> None:
    vocab, train, valid = small
    cfg = TrainConfig(epochs=3, batch_size=32, lr=1e-2, lr_schedule="exponential", lr_gamma=0.5)
    res = fit(_model(vocab), train, valid, cfg, tmp_path, progress=False)
    assert [r["lr"] for r in res.history] == pytest.approx([1e-2, 5e-3, 2.5e-3])


def test_teacher_forcing_schedule() -> None:
    cfg = TrainConfig(teacher_forcing=1.0, teacher_forcing_end=0.5, teacher_forcing_epochs=6)
    assert [round(cfg.tf_ratio(e), 2) for e in (1, 6, 9)] == [1.0, 0.5, 0.5]
    with pytest.raises(ValueError):
        TrainConfig(lr_schedule="cosine")


def test_save_reload_gives_identical_outputs(tiny_bot: Chatbot, bot_dir: Path) -> None:
    again = Chatbot.load(bot_dir)
    for m in ["hello , how are you ?", "can you help me ?", ""]:
        a = tiny_bot.reply(m, beam=4, n_best=3)
        b = again.reply(m, beam=4, n_best=3)
        assert a.alternatives == b.alternatives
    src = torch.tensor([[5, 6, 7]])
    tgt = torch.tensor([[1, 8, 9]])
    with torch.no_grad():
        assert torch.equal(tiny_bot.model(src, torch.tensor([3]), tgt),
                           again.model(src, torch.tensor([3]), tgt))
    cfg = json.loads((bot_dir / "config.json").read_text())
    assert cfg["model"]["vocab_size"] == len(tiny_bot.vocab)


def test_curves_png(tmp_path: Path) -> None:
    hist = [{"epoch": 1, "train_loss": 5.0, "valid_loss": 4.5},
            {"epoch": 2, "train_loss": 4.0, "valid_loss": 4.2}]
    plot_curves(hist, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pretrained_embeddings_initialise_known_words(tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    from nlpsvc.chatbot.train import load_pretrained_embeddings

    vocab = Vocab(["hello", "world", "rare"])
    kv = KeyedVectors(vector_size=16)
    kv.add_vectors(["hello", "world", "other"], [[1.0] * 16, [2.0] * 16, [3.0] * 16])
    kv.save(str(tmp_path / "w2v.kv"))
    model = _model(vocab)
    assert load_pretrained_embeddings(model.embedding, vocab, tmp_path / "w2v.kv") == 2
    assert torch.equal(model.embedding.weight[vocab.stoi["world"]], torch.full((16,), 2.0))
    kv.save_word2vec_format(str(tmp_path / "w2v.txt"))  # word2vec text: the same rows
    text_model = _model(vocab)
    assert load_pretrained_embeddings(text_model.embedding, vocab, tmp_path / "w2v.txt") == 2
    assert torch.equal(text_model.embedding.weight[vocab.stoi["world"]], torch.full((16,), 2.0))
    assert load_pretrained_embeddings(model.embedding, vocab, tmp_path / "missing.kv") == 0
    with pytest.raises(ValueError, match="dimensions"):
        big = Seq2Seq(tiny_config(len(vocab), embedding_dim=8))
        load_pretrained_embeddings(big.embedding, vocab, tmp_path / "w2v.kv")


def test_word_dropout_replaces_rare_words_consistently() -> None:
    from nlpsvc.chatbot.data import collate
    from nlpsvc.chatbot.train import apply_word_dropout, unk_probabilities
    from nlpsvc.chatbot.vocab import EOS_ID, PAD_ID, UNK_ID

    data = [([5, 6, 7], [5, 8]), ([5, 5], [6, 9, 5])] * 50  # 9 and 8 rare, 5 frequent
    probs = unk_probabilities(data, 10, alpha=2.0)
    assert float(probs[9]) == pytest.approx(2 / (2 + 50), rel=1e-5)
    assert float(probs[5]) == pytest.approx(2 / (2 + 250), rel=1e-5)
    assert float(probs[:5].sum()) == 0.0  # specials are never replaced
    big = unk_probabilities(data, 10, alpha=1e6)  # (almost) every word replaced
    batch = collate(data[:2])
    out = apply_word_dropout(batch, big, torch.Generator().manual_seed(0))
    real = batch.tgt_out.ne(PAD_ID) & batch.tgt_out.ne(EOS_ID)
    assert torch.equal(out.tgt_out == UNK_ID, real)
    assert torch.equal(out.tgt_in[:, 1:], out.tgt_out[:, :-1].masked_fill(
        out.tgt_out[:, :-1] == EOS_ID, PAD_ID))  # the inputs are still the shifted targets
    assert torch.equal(out.src == UNK_ID, batch.src.ne(PAD_ID))
    assert torch.equal(batch.src, collate(data[:2]).src)  # the original batch is untouched
