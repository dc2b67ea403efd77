"""Searches: greedy, beam, sampling and their shared constraints."""

from __future__ import annotations

import pytest
import torch

from nlpsvc.chatbot import decode
from nlpsvc.chatbot.bot import Chatbot, detokenize
from nlpsvc.chatbot.vocab import EOS_ID, SOS_ID, UNK_ID

MESSAGES = ["how are you ?", "what time is it ?", "i would like to book a room .", "thanks !"]


def _ids(bot: Chatbot, text: str) -> list[int]:
    return bot.vocab.encode(bot.tokenizer(text))


@pytest.mark.parametrize("message", MESSAGES)
def test_beam_width_one_is_greedy(tiny_bot: Chatbot, message: str) -> None:
    cons = decode.Constraints(max_len=10, no_repeat_ngram=2)
    g = decode.greedy(tiny_bot.model, _ids(tiny_bot, message), cons)
    (b,) = decode.beam_search(tiny_bot.model, _ids(tiny_bot, message), 1, 1, cons)
    assert b.tokens == g.tokens
    assert b.log_prob == pytest.approx(g.log_prob, abs=1e-5)


@pytest.mark.parametrize("message", MESSAGES)
def test_n_best_sorted_and_distinct(tiny_bot: Chatbot, message: str) -> None:
    hyps = decode.beam_search(tiny_bot.model, _ids(tiny_bot, message), 6, 6,
                              decode.Constraints(max_len=8))
    assert len(hyps) >= 2
    scores = [h.score for h in hyps]
    assert scores == sorted(scores, reverse=True)
    assert len({tuple(h.tokens) for h in hyps}) == len(hyps)
    # the score is the length-normalised log-probability
    for h in hyps:
        assert h.score == pytest.approx(h.log_prob / (len(h.tokens) + h.finished))


def test_beam_finds_at_least_the_greedy_probability(tiny_bot: Chatbot) -> None:
    cons = decode.Constraints(max_len=8)
    for m in MESSAGES:
        g = decode.greedy(tiny_bot.model, _ids(tiny_bot, m), cons, length_penalty=0.0)
        b = decode.beam_search(tiny_bot.model, _ids(tiny_bot, m), 5, 1, cons,
                               length_penalty=0.0)[0]
        assert b.log_prob >= g.log_prob - 1e-5


def test_seeded_sampling_is_reproducible(tiny_bot: Chatbot) -> None:
    ids = _ids(tiny_bot, MESSAGES[0])

    def draw(seed: int) -> list[list[int]]:
        return [h.tokens for h in decode.sample(tiny_bot.model, ids, 4, temperature=1.5,
                                                top_p=0.95, seed=seed)]

    assert draw(7) == draw(7)
    assert any(draw(7) != draw(s) for s in (8, 9, 10))


@pytest.mark.parametrize("anti", [decode.AntiLM(0.0, 3), decode.AntiLM(0.7, 0)])
def test_anti_lm_off_is_the_plain_search(tiny_bot: Chatbot, anti: decode.AntiLM) -> None:
    cons = decode.Constraints(max_len=10, no_repeat_ngram=2)
    for m in MESSAGES:
        ids = _ids(tiny_bot, m)
        assert decode.greedy(tiny_bot.model, ids, cons, anti_lm=anti) == \
            decode.greedy(tiny_bot.model, ids, cons)
        assert decode.beam_search(tiny_bot.model, ids, 4, 4, cons, anti_lm=anti) == \
            decode.beam_search(tiny_bot.model, ids, 4, 4, cons)


def _teacher_forced(bot: Chatbot, src: list[int], reply: list[int]) -> torch.Tensor:
    """log p(. | src, reply prefix) at every reply position (T+1, V), dropout off."""
    src = src or [0]
    tgt_in = torch.tensor([[SOS_ID, *reply]])
    with torch.no_grad():
        return bot.model(torch.tensor([src]), torch.tensor([len(src)]), tgt_in)[0]


@pytest.mark.parametrize("weight, steps", [(0.5, 3), (1.5, 10)])
def test_anti_lm_greedy_picks_the_mmi_argmax(tiny_bot: Chatbot, weight: float,
                                             steps: int) -> None:
    """Recomputed independently (teacher-forced, whole sequence at once): each word maximises
    log p(w|S, prefix) - weight * log p(w|empty source, prefix) for the first ``steps`` words;
    ``log_prob`` is log p(T|S) and ``score`` the mean objective."""
    cons = decode.Constraints(max_len=10)
    changed = 0
    for m in MESSAGES:
        ids = _ids(tiny_bot, m)
        h = decode.greedy(tiny_bot.model, ids, cons, anti_lm=decode.AntiLM(weight, steps))
        changed += h.tokens != decode.greedy(tiny_bot.model, ids, cons).tokens
        path = h.tokens + [EOS_ID] * h.finished
        cond = cons.apply(_teacher_forced(tiny_bot, ids, h.tokens)[: len(path)],
                          [path[:t] for t in range(len(path))])
        lm = _teacher_forced(tiny_bot, [], h.tokens)[: len(path)]
        penalty = weight * lm * (torch.arange(len(path)) < steps).unsqueeze(1)
        objective = cond - penalty
        # each picked word is the argmax up to float noise: the teacher-forced pass sums in
        # another order than step-by-step decoding, so an exact tie may fall either way
        best = objective.max(1).values
        chosen = objective.gather(1, torch.tensor(path).unsqueeze(1)).squeeze(1)
        assert bool((chosen >= best - 1e-5).all()), (path, objective.argmax(1).tolist())
        picked = torch.tensor(path).unsqueeze(1)
        assert h.log_prob == pytest.approx(float(cond.gather(1, picked).sum()), abs=1e-4)
        assert h.score == pytest.approx(float(objective.gather(1, picked).sum()) / len(path),
                                        abs=1e-4)
    if weight > 1:  # a strong penalty does change this tiny model's replies (so the check
        assert changed > 0  # above is not only re-deriving plain greedy)


def test_anti_lm_beam_width_one_is_greedy_and_deterministic(tiny_bot: Chatbot) -> None:
    cons = decode.Constraints(max_len=10, no_repeat_ngram=2)
    anti = decode.AntiLM(0.8, 4)
    for m in MESSAGES:
        ids = _ids(tiny_bot, m)
        g = decode.greedy(tiny_bot.model, ids, cons, anti_lm=anti)
        (b,) = decode.beam_search(tiny_bot.model, ids, 1, 1, cons, anti_lm=anti)
        assert b.tokens == g.tokens and b.score == pytest.approx(g.score, abs=1e-5)
        wide = decode.beam_search(tiny_bot.model, ids, 5, 5, cons, anti_lm=anti)
        assert wide == decode.beam_search(tiny_bot.model, ids, 5, 5, cons, anti_lm=anti)
        assert [h.score for h in wide] == sorted((h.score for h in wide), reverse=True)


def test_empty_source_cache_follows_the_weights() -> None:
    from nlpsvc.chatbot.model import Seq2Seq
    from tests.chatbot.conftest import tiny_config

    model = Seq2Seq(tiny_config(30)).eval()
    first = decode._empty_source(model)[1].h.clone()
    with torch.no_grad():
        model.encoder.rnn.bias_ih_l0.add_(0.5)  # in place, as an optimiser step would
    after = decode._empty_source(model)[1].h
    assert not torch.equal(first, after)
    assert torch.equal(after, decode.encode_one(model, [])[1].h)


def test_anti_lm_rejects_negative_settings() -> None:
    with pytest.raises(ValueError):
        decode.AntiLM(-0.1, 3)
    with pytest.raises(ValueError):
        decode.AntiLM(0.5, -1)


def test_top_k_one_sampling_is_greedy(tiny_bot: Chatbot) -> None:
    ids = _ids(tiny_bot, MESSAGES[1])
    cons = decode.Constraints(max_len=10)
    (s,) = decode.sample(tiny_bot.model, ids, 1, cons, top_k=1, seed=0)
    assert s.tokens == decode.greedy(tiny_bot.model, ids, cons).tokens


@pytest.mark.parametrize("option", [{"temperature": 1e-38}, {"temperature": 1e-300},
                                    {"top_p": 1e-46}, {"top_p": 5e-324}])
def test_extreme_temperature_and_top_p_sample_the_greedy_reply(tiny_bot: Chatbot,
                                                                option: dict) -> None:
    """Issue 14: tiny values used to turn every probability into -inf/NaN (500 on /reply)."""
    ids = _ids(tiny_bot, MESSAGES[0])
    cons = decode.Constraints(max_len=10)
    (s,) = decode.sample(tiny_bot.model, ids, 1, cons, seed=0, **option)
    assert s.tokens == decode.greedy(tiny_bot.model, ids, cons).tokens


def test_filter_logits_top_k_and_top_p() -> None:
    lp = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(decode.filter_logits(lp, top_k=2)).tolist() == [[False, False, True, True]]
    kept = ~torch.isinf(decode.filter_logits(lp, top_p=0.7))
    assert kept.tolist() == [[True, True, False, False]]  # 0.5 < 0.7 needs the second word
    assert (~torch.isinf(decode.filter_logits(lp, top_p=0.5))).sum() == 1
    assert (~torch.isinf(decode.filter_logits(lp, top_p=1e-46))).tolist() == [
        [True, False, False, False]]  # the most probable word is always kept


def test_constraints_min_len_no_repeat_and_unk() -> None:
    lp = torch.zeros(2, 10)
    cons = decode.Constraints(min_len=3, no_repeat_ngram=2)
    out = cons.apply(lp, [[7, 8, 7], [7]])
    assert torch.isinf(out[0, 8])  # "7 8" already seen: 8 may not follow 7 again
    assert not torch.isinf(out[0, EOS_ID])  # long enough
    assert torch.isinf(out[1, EOS_ID])  # shorter than min_len
    assert torch.isinf(out[:, UNK_ID]).all()


def test_no_repeat_ngram_holds_in_replies(tiny_bot: Chatbot) -> None:
    for m in MESSAGES:
        for h in decode.beam_search(tiny_bot.model, _ids(tiny_bot, m), 4, 4,
                                    decode.Constraints(max_len=10, no_repeat_ngram=2)):
            bigrams = list(zip(h.tokens, h.tokens[1:], strict=False))
            assert len(bigrams) == len(set(bigrams))


def test_min_and_max_len(tiny_bot: Chatbot) -> None:
    ids = _ids(tiny_bot, MESSAGES[2])
    h = decode.greedy(tiny_bot.model, ids, decode.Constraints(min_len=4, max_len=6))
    assert 4 <= len(h.tokens) <= 6
    h = decode.greedy(tiny_bot.model, ids, decode.Constraints(min_len=9, max_len=3))
    assert len(h.tokens) == 3 and not h.finished


def test_attention_weights_returned(tiny_bot: Chatbot) -> None:
    r = tiny_bot.reply("how are you ?", beam=3, return_attention=True)
    weights = r.attention["weights"]
    assert len(weights) == len(r.attention["reply"])
    for row in weights:
        assert len(row) == r.source_tokens and sum(row) == pytest.approx(1.0, abs=1e-3)


def test_detokenize() -> None:
    assert detokenize(["i", "'m", "fine", ",", "thanks", "!"]) == "i'm fine, thanks!"
