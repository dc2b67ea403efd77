"""The chatbot pipeline end to end on a tiny corpus, and the /reply endpoint over its artifact."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from openapi_spec_validator import validate

from corpora import open_corpus
from nlpsvc.artifacts import ArtifactError, ArtifactWriter, load_current
from nlpsvc.chatbot import Chatbot, load_artifact
from nlpsvc.chatbot.vocab import VocabularyError
from nlpsvc.service import create_app
from nlpsvc.service.registry import Registry
from pipelines.base import TrainContext
from pipelines.chatbot import ChatbotConfig, ChatbotPipeline
from tests.datafiles import assert_data_only

from .conftest import read_slice

TINY = {"epochs": 2, "hidden_size": 16, "embedding_dim": 16, "num_layers": 1, "dropout": 0.0,
        "batch_size": 32, "lr": 5e-3, "max_src_len": 12, "max_tgt_len": 10, "eval_max_pairs": 30,
        "threads": 1}


def write_corpus(folder: Path, dialogs: list[list[str]], extra_lines: list[str] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"turns": d}) for d in dialogs] + list(extra_lines)
    (folder / "dialogs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("chat")
    bad = [json.dumps({"turns": ["only one turn here"]}),
           json.dumps({"turns": ["hello there", "", "hi ! how are you ?"]}),
           json.dumps({"turns": "not a list"})]
    corpus = open_corpus(write_corpus(root / "tinychat", read_slice(150), bad))
    ctx = TrainContext(corpus=corpus, config={"chatbot": TINY}, out=root / "models",
                       progress=False)
    pipe = ChatbotPipeline()
    assert pipe.has_data(corpus)
    pipe.check(ctx)
    return root / "models", pipe.run(ctx)


def test_pipeline_publishes_a_loadable_artifact(trained) -> None:
    models, result = trained
    art = load_current(models / "tinychat" / "chatbot")
    assert result.metric == "perplexity" and result.value == art.manifest["metrics"]["perplexity"]
    m = art.manifest["metrics"]
    for key in ("perplexity", "bleu", "distinct1", "distinct2", "avg_reply_len", "samples",
                "curves", "best_epoch"):
        assert key in m, key
    assert 1 < m["perplexity"] < art.manifest["data"]["vocab_size"]
    assert [r["epoch"] for r in m["curves"]] == [1, 2]
    assert set(art.manifest["files"]) >= {"model.safetensors", "config.json", "vocab.json",
                                          "retrieval.json", "curves.png"}  # each one hashed
    # the default greedy replies never repeat a word; the fallback was tuned on valid
    assert m["repeated_word_rate"] == 0.0 and 0.0 <= m["fallback_rate"] <= 1.0
    fb = m["fallback"]
    assert fb["tuned_on"] == "valid" and fb["index_pairs"] > 0
    assert fb["metric_with"] >= fb["metric_without"]
    decode_cfg = json.loads((art.path / "config.json").read_text())["decode"]
    assert decode_cfg["fallback_threshold"] == fb["threshold"]
    assert decode_cfg["no_repeat_word"] is True
    assert "model.pt" not in assert_data_only(art.path)  # no pickle in what the server loads
    assert art.manifest["config"]["hidden_size"] == 16
    bot = load_artifact(art, threads=1)
    assert isinstance(bot, Chatbot) and isinstance(bot.reply("how are you ?").text, str)
    # the checkpoint folder is gone once published (a later run starts afresh)
    assert not (models / "tinychat" / "chatbot" / ".checkpoint").exists()


def test_saved_bot_answers_as_before(trained, tmp_path: Path) -> None:
    models, _ = trained
    bot = load_artifact(load_current(models / "tinychat" / "chatbot"), threads=1)
    bot.save(tmp_path)
    again = Chatbot.load(tmp_path)
    for name, tensor in bot.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name]), name
    assert again.model.embedding.weight is again.model.decoder.embedding.weight  # still tied
    assert again.reply("how are you ?", beam=3).alternatives == bot.reply(
        "how are you ?", beam=3).alternatives


def test_artifact_with_pickled_weights_is_refused(trained, tmp_path: Path) -> None:
    """A model.pt artifact (before safetensors) is not loaded: /ready says how to re-train."""
    models, _ = trained
    art = load_current(models / "tinychat" / "chatbot")
    with ArtifactWriter(tmp_path / "models", "old", "chatbot") as w:
        for name in ("config.json", "vocab.json"):
            shutil.copy(art.path / name, w.dir / name)
        torch.save(load_artifact(art, threads=1).model.state_dict(), w.dir / "model.pt")
    old = load_current(tmp_path / "models" / "old" / "chatbot")
    with pytest.raises(ArtifactError, match=r"model\.pt, a pickle .* re-train it: nlpsvc train "
                                            r"<old corpus folder> --only chatbot"):
        load_artifact(old)
    reg = Registry.from_dir(tmp_path / "models")
    assert "chatbot" not in reg.sets["old"]
    assert "re-train" in reg.errors[0]["error"] and reg.errors[0]["kind"] == "chatbot"


def test_bad_dialogues_are_skipped_and_counted(trained) -> None:
    models, _ = trained
    data = load_current(models / "tinychat" / "chatbot").manifest["data"]
    pairs = data["pairs"]
    total = {k: sum(p[k] for p in pairs.values()) for k in ("empty_turns", "single_turn_dialogs")}
    assert total["empty_turns"] >= 1
    assert total["single_turn_dialogs"] >= 1  # the one-turn line (and what the empty turn left)
    assert data["skipped_lines"] == {"malformed_lines": 1}


def test_no_usable_dialogue_is_a_clear_error(tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "bad", [["only one"], ["", "lonely"]], ["{broken"])
    (folder / "dialogs.jsonl").rename(folder / "dialogs.train.jsonl")
    ctx = TrainContext(corpus=open_corpus(folder), config={"chatbot": TINY}, out=tmp_path / "m",
                       progress=False)
    with pytest.raises(ValueError, match=r"no training dialogue pairs .*3 skipped "
                       r"\(malformed 1, single_turn 2, empty_turns 1\)"):
        ChatbotPipeline().run(ctx)


def test_corpus_too_small_for_a_vocabulary(tmp_path: Path) -> None:
    corpus = open_corpus(write_corpus(tmp_path / "wee", [["hi", "hello"], ["yo", "hey"]]))
    ctx = TrainContext(corpus=corpus, config={"chatbot": TINY}, out=tmp_path / "m", progress=False)
    with pytest.raises(VocabularyError, match="corpus too small"):
        ChatbotPipeline().run(ctx)
    assert not (tmp_path / "m" / "wee" / "chatbot" / "CURRENT").exists()


def test_config_is_checked_up_front(tmp_path: Path) -> None:
    from nlpsvc.config import ConfigError

    corpus = open_corpus(write_corpus(tmp_path / "c", [["a b", "c d"]]))
    for bad in ({"attention": "cosine"}, {"hidden": 3}, {"lr_schedule": "cyclic"},
                {"decode_anti_lm": -0.5}, {"decode_anti_lm_steps": -1}):
        ctx = TrainContext(corpus=corpus, config={"chatbot": bad}, out=tmp_path, progress=False)
        with pytest.raises(ConfigError):
            ChatbotPipeline().check(ctx)
    assert ChatbotConfig().attention == "general"


# -- POST /reply ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(trained):  # noqa: ANN001, ANN201 - Flask test client
    models, _ = trained
    app = create_app({"TESTING": True, "REGISTRY": Registry.from_dir(models)})
    return app.test_client()


def test_reply_answers(client) -> None:
    r = client.post("/reply", json={"message": "How are you today?", "beam": 4, "n_best": 3})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["model"] == "tinychat" and isinstance(body["reply"], str)
    alts = body["alternatives"]
    assert 1 <= len(alts) <= 3 and alts[0]["text"] == body["reply"]
    assert [a["score"] for a in alts] == sorted((a["score"] for a in alts), reverse=True)
    assert body["truncated"] is False and "notice" not in body


def test_reply_greedy_sampling_and_attention(client) -> None:
    r = client.post("/reply", json={"message": "hello", "beam": 1, "attention": True})
    assert r.status_code == 200 and "weights" in r.get_json()["attention"]
    body = {"message": "hello", "n_best": 3,
            "sampling": {"temperature": 0.9, "top_p": 0.9, "seed": 3}}
    a, b = client.post("/reply", json=body), client.post("/reply", json=body)
    assert a.status_code == 200 and a.get_json() == b.get_json()


def test_reply_anti_lm_is_a_request_option(client) -> None:
    base = {"message": "How are you today?", "beam": 3, "n_best": 2}
    plain = client.post("/reply", json=base).get_json()
    assert client.post("/reply", json={**base, "anti_lm": 0}).get_json() == plain
    r = client.post("/reply", json={**base, "anti_lm": 0.5, "anti_lm_steps": 3})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == client.post("/reply", json={**base, "anti_lm": 0.5,
                                                       "anti_lm_steps": 3}).get_json()


def test_long_message_is_truncated_and_said_so(client) -> None:
    r = client.post("/reply", json={"message": "word " * 50})
    body = r.get_json()
    assert r.status_code == 200 and body["truncated"] is True
    assert body["source_tokens"] == body["max_source_tokens"] == 12
    assert "truncated" in body["notice"]


@pytest.mark.parametrize("body, field", [
    ({"message": ""}, "message"),
    ({"message": "   "}, "message"),
    ({}, "message"),
    ({"message": 3}, "message"),
    ({"message": "hi", "beam": 0}, "beam"),
    ({"message": "hi", "beam": 21}, "beam"),
    ({"message": "hi", "beam": True}, "beam"),
    ({"message": "hi", "beam": 2, "n_best": 3}, "n_best"),
    ({"message": "hi", "max_len": 0}, "max_len"),
    ({"message": "hi", "max_len": 1000}, "max_len"),
    ({"message": "hi", "history": "x"}, "history"),
    ({"message": "hi", "history": ["ok", 5]}, "history[1]"),
    ({"message": "hi", "sampling": {"temperature": 0}}, "sampling.temperature"),
    ({"message": "hi", "sampling": {"top_p": 1.5}}, "sampling.top_p"),
    ({"message": "hi", "sampling": {"seed": 100000000000000000000000000000}}, "sampling.seed"),
    ({"message": "hi", "sampling": {"seed": -1}}, "sampling.seed"),
    ({"message": "hi", "sampling": {"beam": 2}}, "sampling"),
    ({"message": "hi", "anti_lm": -0.1}, "anti_lm"),
    ({"message": "hi", "anti_lm": 6}, "anti_lm"),
    ({"message": "hi", "anti_lm": "0.5"}, "anti_lm"),
    ({"message": "hi", "anti_lm_steps": -1}, "anti_lm_steps"),
    ({"message": "hi", "anti_lm": 0.5, "sampling": {"seed": 1}}, "anti_lm"),
])
def test_reply_validation(client, body: dict, field: str) -> None:
    r = client.post("/reply", json=body)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["field"] == field


@pytest.mark.parametrize("sampling", [
    {"temperature": 1e-38}, {"top_p": 1e-46}, {"temperature": 1e-38, "top_p": 1e-46},
    {"seed": 2**64 - 1}, {"seed": 0},
])
def test_reply_extreme_sampling_options_answer(client, sampling: dict) -> None:
    """Issue 14: these were 500s (seed overflow in manual_seed; NaN probabilities)."""
    r = client.post("/reply", json={"message": "hi", "n_best": 2, "sampling": sampling})
    assert r.status_code == 200, r.get_json()
    assert isinstance(r.get_json()["reply"], str)


def test_reply_without_a_chatbot_is_503(make_app) -> None:  # noqa: ANN001
    client = make_app(registry=Registry(sets={"other": {}})).test_client()
    r = client.post("/reply", json={"message": "hello"})
    assert r.status_code == 503
    assert r.get_json()["error"]["code"] == "model_unavailable"


def test_reply_in_openapi(client) -> None:
    spec = client.get("/openapi.json").get_json()
    post = spec["paths"]["/reply"]["post"]
    props = post["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"message", "history", "beam", "n_best", "max_len", "sampling", "anti_lm",
            "anti_lm_steps"} <= set(props)
    validate(spec)  # a test dependency (pyproject's test extra): missing is a failure


def test_interrupted_training_resumes_and_keeps_serving(tmp_path: Path, monkeypatch) -> None:
    import pipelines.chatbot as pc

    corpus = open_corpus(write_corpus(tmp_path / "resumable", read_slice(80, offset=200)))
    ctx = TrainContext(corpus=corpus, config={"chatbot": {**TINY, "epochs": 3}},
                       out=tmp_path / "models", progress=False)
    first = ChatbotPipeline().run(ctx)  # a served version, then a new training is interrupted
    real_fit = pc.fit

    def interrupted(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        def stop(row: dict) -> None:
            if row["epoch"] == 2:
                raise KeyboardInterrupt

        return real_fit(*args, **kw, on_epoch=stop)

    monkeypatch.setattr(pc, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ChatbotPipeline().run(ctx)
    kind_dir = tmp_path / "models" / "resumable" / "chatbot"
    assert load_current(kind_dir).version == first.version  # the old version still serves
    checkpoint = kind_dir / ".checkpoint"
    assert {"last.json", "last.safetensors", "best.safetensors"} <= {
        p.name for p in checkpoint.iterdir()}
    assert not list(checkpoint.glob("*.pt"))  # data only, as the served files
    monkeypatch.setattr(pc, "fit", real_fit)
    again = ChatbotPipeline().run(ctx)
    metrics = load_current(kind_dir).manifest["metrics"]
    assert load_current(kind_dir).version == again.version != first.version
    assert metrics["resumed_from_epoch"] == 2 and len(metrics["curves"]) == 3


def test_cli_eval_on_a_dialogue_file(trained, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from nlpsvc.chatbot import cli_eval

    models, _ = trained
    art = load_current(models / "tinychat" / "chatbot")
    f = tmp_path / "held.tsv"
    f.write_text("how are you ?\ti am fine , thanks .\nno tab here\nwhere is it ?\tover there .\n")
    out = cli_eval(art, SimpleNamespace(input=str(f), pairs=None, analogies=None))
    assert out["pairs"] == 2 and out["bad_lines"] == 1 and out["tokens"] == 11
    assert 1 < out["perplexity"] < art.manifest["data"]["vocab_size"] * 10
    assert {"bleu", "distinct1", "distinct2", "avg_reply_len", "fallback_rate"} <= set(out)
    assert out["repeated_word_rate"] == 0.0


def test_identical_pairs_are_kept_once(tmp_path: Path) -> None:
    """chatbot.dedup_pairs (default on): an exchange repeated in the corpus trains once."""
    dialogs = read_slice(40)
    repeated = dialogs + dialogs[:5] * 3
    folder = write_corpus(tmp_path / "dup", repeated)
    (folder / "dialogs.jsonl").rename(folder / "dialogs.train.jsonl")
    (folder / "dialogs.valid.jsonl").write_text(
        "\n".join(json.dumps({"turns": d}) for d in read_slice(5, 100) * 2) + "\n")
    expected = {}
    for dedup in (True, False):
        ctx = TrainContext(corpus=open_corpus(folder),
                           config={"chatbot": {**TINY, "epochs": 1, "dedup_pairs": dedup}},
                           out=tmp_path / f"m{dedup}", progress=False)
        ChatbotPipeline().run(ctx)
        expected[dedup] = load_current(tmp_path / f"m{dedup}" / "dup" / "chatbot").manifest["data"]
    pairs_per = [len([t for t in d if t.strip()]) - 1 for d in dialogs[:5]]
    assert expected[False]["train_pairs"] - expected[True]["train_pairs"] == 3 * sum(pairs_per)
    assert expected[True]["duplicate_pairs_dropped"]["train"] == 3 * sum(pairs_per)
    assert expected[True]["valid_pairs"] * 2 == expected[False]["valid_pairs"]
    assert expected[False]["duplicate_pairs_dropped"] == {}


def test_same_corpus_and_config_train_the_same_model(tmp_path: Path) -> None:
    """chatbot.seed seeds the initial weights too, not only the training loop."""
    folder = write_corpus(tmp_path / "same", read_slice(30))
    states = []
    for run in ("a", "b"):
        ctx = TrainContext(corpus=open_corpus(folder), config={"chatbot": {**TINY, "epochs": 1}},
                           out=tmp_path / run, progress=False)
        ChatbotPipeline().run(ctx)
        states.append(load_artifact(load_current(tmp_path / run / "same" / "chatbot"),
                                    threads=1).model.state_dict())
    assert states[0].keys() == states[1].keys()
    for name, tensor in states[0].items():
        assert torch.equal(tensor, states[1][name]), name
