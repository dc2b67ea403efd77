"""The retrieval fallback: the TF-IDF index (oracle: scikit-learn), the threshold tuning (oracle:
brute force) and the bot's use of them, saved and loaded as data."""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from nlpsvc.chatbot import decode
from nlpsvc.chatbot.bot import Chatbot, confidence_of, detokenize
from nlpsvc.chatbot.retrieval import (
    SIMILARITY_GRID,
    Fallback,
    ReplyIndex,
    content_f1,
    content_words,
    repeats_word,
    token_f1,
    tune_threshold,
)
from nlpsvc.chatbot.vocab import EOS_ID, SOS_ID

PAIRS = [
    ("how are you ?", "i am fine , thank you ."),
    ("what is your name ?", "my name is bot ."),
    ("how old are you ?", "i was built this year ."),
    ("what is ai ?", "artificial intelligence is the study of thinking machines ."),
    ("what is ai ?", "a branch of computer science ."),
    ("tell me a joke", "ha ha , no ."),  # a word twice in a row: left out of the index
    ("do you like music ?", "yes , very much ."),
]


def _pairs(raw: list[tuple[str, str]] = PAIRS) -> list[tuple[list[str], list[str]]]:
    return [(p.split(), r.split()) for p, r in raw]


def test_index_similarities_match_sklearn_tfidf() -> None:
    pairs = [p for p in _pairs() if p[0] != "what is ai ?".split()]  # unique prompts
    index = ReplyIndex.build(pairs)
    prompts = [p for p, r in pairs if not repeats_word(r)]
    oracle = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True, smooth_idf=True,
                             norm="l2").fit(prompts)
    rng = random.Random(0)
    words = sorted({w for p in prompts for w in p}) + ["unseen"]
    for _ in range(50):
        query = [rng.choice(words) for _ in range(rng.randint(1, 6))]
        want = (oracle.transform(prompts) @ oracle.transform([query]).T).toarray().ravel()
        got = (index.matrix @ index._vector(query).T).toarray().ravel()
        np.testing.assert_allclose(got, want, atol=1e-12)
        matches = index.search(query)
        if want.max() > 0:
            assert {tuple(m.prompt) for m in matches} == {
                tuple(prompts[i]) for i in np.flatnonzero(want >= want.max() - 1e-9)}
            assert matches[0].similarity == pytest.approx(want.max())
        else:
            assert matches == []


def test_index_ties_repeats_and_round_trip() -> None:
    index = ReplyIndex.build(_pairs() + _pairs())  # duplicates kept once
    assert len(index) == len(PAIRS) - 1  # the "ha ha" reply is not in the index
    assert not any(repeats_word(r) for r in index.replies)
    ai = index.search("what is ai ?".split())
    assert [" ".join(m.reply) for m in ai] == [PAIRS[3][1], PAIRS[4][1]]
    assert ai[0].similarity == pytest.approx(1.0)
    again = ReplyIndex.from_dict(json.loads(json.dumps(index.to_dict())))
    for q in ("how are you", "what is your name", "music ?", "zebra"):
        assert again.search(q.split()) == index.search(q.split())
    with pytest.raises(ValueError):
        ReplyIndex.from_dict({"prompts": "x", "replies": [], "idf": {}})


def test_token_f1() -> None:
    assert token_f1("a b c".split(), "a b c".split()) == 1.0
    assert token_f1("a b".split(), "c d".split()) == 0.0
    assert token_f1("a a b".split(), "a c".split()) == pytest.approx(2 * (1 / 3) * 0.5 / (5 / 6))


def test_content_f1_ignores_stop_words_and_punctuation() -> None:
    ref = "use the password reset option .".split()
    assert content_words(ref) == ["use", "password", "reset", "option"]
    assert token_f1("i am not .".split(), "i am fine .".split()) > 0
    assert content_f1("i am not .".split(), "i am fine .".split()) == 0.0  # generic: no credit
    assert content_f1("reset the password".split(), ref) == pytest.approx(
        token_f1(["reset", "password"], ["use", "password", "reset", "option"]))
    assert content_f1(["no", "."], ["no", "."]) == 1.0  # no content word: token for token

def _brute(cases: list, metric=token_f1) -> float:  # noqa: ANN001
    """The best mean metric over every threshold on a fine grid and every grid similarity."""
    confs = sorted(c[0] for c in cases)
    grid = [confs[0] - 1] + confs + [c + 1e-9 for c in confs] + [confs[-1] + 1]
    best = sum(metric(c[1], c[4]) for c in cases) / len(cases)
    for sim in SIMILARITY_GRID:
        for t in grid:
            fb = Fallback(t, sim)
            score = sum(metric(c[3], c[4]) if c[3] and fb.use(c[0], c[2])
                        else metric(c[1], c[4]) for c in cases) / len(cases)
            best = max(best, score)
    return best


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("metric", [token_f1, content_f1])
def test_tune_threshold_finds_the_best_rule(seed: int, metric) -> None:  # noqa: ANN001
    rng = random.Random(seed)
    words = "a b c d e f the of .".split()

    def sent() -> list[str]:
        return [rng.choice(words) for _ in range(rng.randint(1, 4))]

    cases = [(-rng.uniform(0, 5), sent(), rng.random(), sent() if rng.random() < 0.9 else [],
              sent()) for _ in range(30)]
    rule, fig = tune_threshold(cases, metric)
    assert fig["metric_with"] == pytest.approx(_brute(cases, metric), abs=1e-4)
    if rule is not None:
        used = [bool(c[3]) and rule.use(c[0], c[2]) for c in cases]
        mean = sum(metric(c[3] if u else c[1], c[4])
                   for c, u in zip(cases, used, strict=True)) / len(cases)
        assert mean == pytest.approx(fig["metric_with"], abs=1e-4)
        assert fig["fallback_rate"] == pytest.approx(sum(used) / len(cases), abs=1e-4)
        assert fig["metric_with"] > fig["metric_without"]


def test_no_gain_no_fallback() -> None:
    cases = [(-1.0, ["x"], 0.9, ["y"], ["x"]), (-3.0, ["z"], 0.9, ["w"], ["z"])]
    rule, fig = tune_threshold(cases)
    assert rule is None and fig["fallback_rate"] == 0.0
    assert tune_threshold([]) == (None, {})


@pytest.fixture
def retrieval_bot(tiny_bot: Chatbot, real_pairs: list) -> Chatbot:
    bot = copy.copy(tiny_bot)
    bot.defaults = copy.copy(tiny_bot.defaults)
    bot.index = ReplyIndex.build(real_pairs)
    return bot


def test_fallback_answers_with_the_best_training_reply(retrieval_bot: Chatbot,
                                                        real_pairs: list) -> None:
    bot = retrieval_bot
    bot.defaults.fallback_threshold = 0.0  # every search is below: always fall back
    bot.defaults.fallback_min_similarity = 0.0
    for src, _ in real_pairs[:15]:  # noqa: B007 - the reply tells whether it was indexed
        message = " ".join(src)
        r = bot.reply(message, beam=3, n_best=3)
        candidates = bot.retrieve_all(bot.source(message)[0])
        assert r.retrieved and r.text == detokenize(candidates[0][0])
        retrieved = [detokenize(c[0]) for c in candidates[:3]]
        texts = [a["text"] for a in r.alternatives]
        assert texts[:len(retrieved)] == retrieved  # the training replies first ...
        # ... then the search's own replies, in its order, not repeating one, up to n_best
        searched = [a["text"] for a in bot.reply(message, beam=3, n_best=3,
                                                 fallback=False).alternatives]
        fill = [t for t in dict.fromkeys(searched) if t not in retrieved]
        assert texts[len(retrieved):] == fill[:3 - len(retrieved)]
        scores = [a["score"] for a in r.alternatives[:len(retrieved)]]
        assert scores == sorted(scores, reverse=True)
        # the score is the model's, as for generated replies: teacher-forced, length-normalised
        assert scores[0] == pytest.approx(candidates[0][2], abs=1e-4)
        if not repeats_word(_):  # the training prompt itself is found (similarity 1)
            assert candidates[0][1] == pytest.approx(1.0)
        tokens, used, hyp = bot.answer(src, 3)
        assert used and tokens == candidates[0][0]
        assert confidence_of(hyp) < 0


def test_reply_scores_equal_the_step_by_step_log_probability(retrieval_bot: Chatbot,
                                                             real_pairs: list) -> None:
    """Oracle for ``score_replies`` (batched, teacher-forced, padded): the decoder stepped one
    word at a time, as the searches do, summing log p of each word and of ``</s>``."""
    bot = retrieval_bot
    replies = [t for _, t in real_pairs[:6]]  # different lengths: padding in the batch
    for src, _ in real_pairs[:4]:
        ids = bot.vocab.encode(src)
        got = bot.score_replies(ids, replies)
        for reply, score in zip(replies, got, strict=True):
            memory, state = decode.encode_one(bot.model, ids)
            y, total = torch.tensor([SOS_ID]), 0.0
            with torch.inference_mode():
                for tok in [*bot.vocab.encode(reply), EOS_ID]:
                    log_probs, state, _ = bot.model.decoder.step(y, state, memory)
                    total += float(log_probs[0, tok])
                    y = torch.tensor([tok])
            assert score == pytest.approx(total / (len(reply) + 1), abs=1e-4)


def test_fallback_off_below_threshold_or_similarity(retrieval_bot: Chatbot) -> None:
    bot = retrieval_bot
    plain = bot.reply("how are you ?", beam=3, fallback=False)
    bot.defaults.fallback_threshold = -math.inf  # never below
    assert not bot.reply("how are you ?", beam=3).retrieved
    bot.defaults.fallback_threshold = 0.0
    bot.defaults.fallback_min_similarity = 1.0
    r = bot.reply("zzz qqq", beam=3)  # shares no word with any prompt
    assert not r.retrieved and r.text == bot.reply("zzz qqq", beam=3, fallback=False).text
    assert bot.reply("how are you ?", beam=3, fallback=False).text == plain.text
    # sampling is never replaced
    assert not bot.reply("how are you ?", sampling={"seed": 1}).retrieved


def test_fallback_attention_is_the_retrieved_replys(retrieval_bot: Chatbot) -> None:
    bot = retrieval_bot
    bot.defaults.fallback_threshold = 0.0
    r = bot.reply("how are you ?", beam=1, return_attention=True)
    assert r.retrieved and r.attention is not None
    assert len(r.attention["weights"]) == len(r.attention["reply"])
    for row in r.attention["weights"]:
        assert len(row) == len(r.attention["source"]) and sum(row) == pytest.approx(1, abs=1e-3)


def test_index_saved_as_data_and_reloaded(retrieval_bot: Chatbot, tmp_path: Path) -> None:
    bot = retrieval_bot
    bot.defaults.fallback_threshold, bot.defaults.fallback_min_similarity = -1.5, 0.4
    bot.save(tmp_path)
    assert json.loads((tmp_path / "retrieval.json").read_text())["prompts"]
    again = Chatbot.load(tmp_path)
    assert again.defaults == bot.defaults and again.index is not None
    for m in ("how are you ?", "where is the station ?"):
        assert again.reply(m, beam=3, n_best=2) == bot.reply(m, beam=3, n_best=2)
    (tmp_path / "retrieval.json").unlink()  # older artifacts: no index, no fallback
    assert Chatbot.load(tmp_path).index is None
