"""bench/chatbot stores what its section shows and renders it from that JSON alone (issue 14).

A small but real run of the suite's own code: a tiny model trained by ``bench.chatbot train`` on
a slice of the protocol's DailyDialog pairs, then ``report`` (validation sweep, test figures,
latency, ``POST /reply`` throughput under gunicorn) publishing into a scratch BENCHMARKS.md and
``results`` folder, never the repository's. The section must then re-render byte for byte from
the stored JSON with the work directory gone.
"""

from __future__ import annotations

import json
import shutil

import pytest

from bench import chatbot, report
from bench import run as bench_run
from nlpsvc.chatbot.bot import Chatbot
from tests.conftest import shared_data

TINY_MODEL = dict(embedding_dim=16, hidden_size=16, num_layers=1, attention="general",
                  input_feeding=True, dropout=0.0, tie_embeddings=True)


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """Publishing goes to tmp_path; the suite runs tiny (model, data slice, 1 s of load)."""
    shared_data("dailydialog")  # skip without ../shared/data, fail if it lacks the corpus
    monkeypatch.setattr(report, "BENCHMARKS", tmp_path / "BENCHMARKS.md")
    monkeypatch.setattr(report, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(chatbot, "MODEL", TINY_MODEL)
    monkeypatch.setattr(chatbot, "TRAIN", {**chatbot.TRAIN, "epochs": 1, "batch_size": 32})
    monkeypatch.setattr(chatbot, "THROUGHPUT_SECONDS", 1.0)
    full = chatbot.load_protocol

    def sliced() -> dict:
        data = full()
        fifteen = [p for p in data["test_full"] if len(p[0]) == 15][:4]
        out = {**data, "train": data["train"][:300], "valid": data["valid"][:40],
               "test": data["test"][:40], "test_full": data["test_full"][:30] + fifteen}
        out["counts"] = {**data["counts"], "train_kept": 300, "valid": 40, "test": 40}
        return out

    monkeypatch.setattr(chatbot, "load_protocol", sliced)
    return tmp_path


def test_report_publishes_results_that_render_the_section_alone(scratch) -> None:
    work = scratch / "work"
    chatbot.main(["train", "--workdir", str(work), "--no-progress", "--max-minutes", "1"])
    chatbot.main(["report", "--workdir", str(work)])

    doc = report.load("chatbot")
    assert doc is not None and doc["command"] == chatbot.COMMAND
    res = doc["results"]
    written = report.sections()["chatbot"]
    assert written == report.section(doc, chatbot.render)

    # What the section shows comes from the stored figures, not from constants or WORKDIR.
    pg = res["protocol_greedy"]
    assert pg["replies"] == 40 and res["full_greedy"]["replies"] == 34
    assert f"{pg['perplexity']:.2f}" in written and f"{pg['bleu4']:.2f}" in written
    assert all(s["reply"] in written for s in pg["samples"]) and pg["samples"]
    assert len(res["validation_sweep"]["rows"]) == len(chatbot.ANTI_LM_GRID)
    assert res["validation_sweep"]["rows"][0]["replies"] == 40
    curve = ", ".join(f"{r['epoch']}: {r['valid_ppl']:.2f}" for r in res["training"]["history"])
    assert f"Validation perplexity by epoch: {curve}." in written
    assert f"{res['training']['params'] / 1e6:.1f}M parameters" in written
    assert "1-layer bidirectional LSTM encoder 16" in written
    tp = res["throughput"]
    assert tp["seconds"] == 1.0 and tp["beam1"]["ok"] > 0 and tp["beam1"]["5xx"] == 0
    assert f"greedy {tp['beam1']['requests_per_s']} requests/s" in written
    assert "15-word messages for\n1 s:" in written
    assert f"greedy p50\n{res['latency_greedy']['p50_ms']:.1f} ms" in written
    assert "387 of 1334" in written  # the anchor's, stored with the run
    vocab = Chatbot.load(work / "bot").vocab
    test = chatbot.load_protocol()["test"]
    unk = sum(w not in vocab for _, t in test for w in t) / sum(len(t) + 1 for _, t in test)
    assert res["settings"]["test_reply_unk_share"] == pytest.approx(unk) and unk > 0
    assert f"{unk:.1%} of the test reply tokens" in written

    # A figure changed in the stored JSON changes the section (the BENCHMARKS.md check bites).
    edited = json.loads(json.dumps(doc))
    edited["results"]["protocol_greedy"]["bleu4"] = pg["bleu4"] + 1.0
    assert report.section(edited, chatbot.render) != written

    # Rendering needs the stored JSON only: WORKDIR gone, the section comes back identical.
    shutil.rmtree(work)
    report.BENCHMARKS.write_text(report.BENCHMARKS.read_text().replace(
        f"{pg['perplexity']:.2f}", "0.00"))
    assert report.sections()["chatbot"] != written
    assert bench_run.render(["chatbot"]) == 0
    assert report.sections()["chatbot"] == written
    report.BENCHMARKS.write_text(report.HEADER)
    chatbot.main(["--render-only", "--workdir", str(work)])  # redirects to bench.run --render
    assert report.sections()["chatbot"] == written and not work.exists()


def test_render_refuses_results_missing_what_the_section_shows() -> None:
    with pytest.raises(KeyError):
        chatbot.render({"protocol_greedy": {}, "protocol_beam5": {}, "full_greedy": {}})
