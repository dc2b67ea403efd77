"""Default decoding never emits the same word twice in a row (issue 14), even from a model that
would rather repeat: greedy, beam search and sampling, through ``decode`` and ``Chatbot.reply``.

The model is the session's tiny trained bot with its decoder's step wrapped so that the previous
word gets a large bonus: unconstrained, every search repeats (checked, so the tests can fail).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpsvc.chatbot import decode
from nlpsvc.chatbot.bot import Chatbot, DecodeDefaults
from nlpsvc.chatbot.retrieval import repeats_word
from nlpsvc.chatbot.vocab import EOS_ID, SOS_ID

MESSAGES = ["how are you ?", "hello , how are you ?", "what time is it ?", "thanks !", "no"]
BONUS = 8.0  # added to the previous word's logit: it then beats every other word


@pytest.fixture(scope="module")
def echo_bot(tiny_bot: Chatbot) -> Chatbot:
    """A copy of the tiny bot whose decoder strongly prefers the word it was just given."""
    bot = copy.deepcopy(tiny_bot)
    bot.defaults = DecodeDefaults()  # the shipped defaults (the fixture turns n-grams off)
    step = bot.model.decoder.step

    def repeating_step(y_prev, state, memory):  # noqa: ANN001, ANN202
        log_probs, state, weights = step(y_prev, state, memory)
        bonus = F.one_hot(y_prev, log_probs.size(1)).to(log_probs.dtype) * BONUS
        bonus[y_prev == SOS_ID] = 0.0  # the first word is the model's own
        bonus[:, EOS_ID] = 0.0
        return (log_probs + bonus).log_softmax(-1), state, weights

    bot.model.decoder.step = repeating_step
    return bot


def _ids(bot: Chatbot, text: str) -> list[int]:
    return bot.vocab.encode(bot.tokenizer(text))


def _has_repeat(tokens: list[int]) -> bool:
    return any(a == b for a, b in zip(tokens, tokens[1:], strict=False))


def test_the_forced_model_repeats_when_unconstrained(echo_bot: Chatbot) -> None:
    off = decode.Constraints(max_len=8, no_repeat_word=False)
    for m in MESSAGES:
        assert _has_repeat(decode.greedy(echo_bot.model, _ids(echo_bot, m), off).tokens), m
        best = decode.beam_search(echo_bot.model, _ids(echo_bot, m), 5, 1, off)[0]
        assert _has_repeat(best.tokens), m


@pytest.mark.parametrize("message", MESSAGES)
def test_greedy_and_beam_never_repeat_a_word(echo_bot: Chatbot, message: str) -> None:
    cons = decode.Constraints(max_len=12)  # the default: no_repeat_word on, n-grams off
    ids = _ids(echo_bot, message)
    g = decode.greedy(echo_bot.model, ids, cons)
    assert g.tokens and not _has_repeat(g.tokens)
    for beam in (2, 5, 8):
        hyps = decode.beam_search(echo_bot.model, ids, beam, beam, cons)
        assert hyps and not any(_has_repeat(h.tokens) for h in hyps)


@pytest.mark.parametrize("message", MESSAGES)
def test_greedy_takes_the_best_word_other_than_the_last(echo_bot: Chatbot, message: str) -> None:
    """Oracle: recompute each step teacher-forced; the decoded word is the argmax over every
    allowed word except the one before it (specials and <unk> are banned as always)."""
    cons = decode.Constraints(max_len=10)
    ids = _ids(echo_bot, message)
    hyp = decode.greedy(echo_bot.model, ids, cons)
    memory, state = decode.encode_one(echo_bot.model, ids)
    y, seq = torch.tensor([SOS_ID]), []
    with torch.inference_mode():
        for tok in [*hyp.tokens, EOS_ID][: cons.max_len]:
            log_probs, state, _ = echo_bot.model.decoder.step(y, state, memory)
            allowed = decode.Constraints(max_len=10, no_repeat_word=False).apply(log_probs,
                                                                                [seq])[0]
            if seq:
                allowed[seq[-1]] = float("-inf")
            assert allowed[tok] >= allowed.max() - 1e-5
            if tok == EOS_ID:
                break
            seq.append(tok)
            y = torch.tensor([tok])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), message=st.sampled_from(MESSAGES),
       temperature=st.floats(0.5, 3.0))
def test_sampling_never_repeats_a_word(echo_bot: Chatbot, seed: int, message: str,
                                       temperature: float) -> None:
    hyps = decode.sample(echo_bot.model, _ids(echo_bot, message), 4, decode.Constraints(max_len=10),
                         temperature=temperature, seed=seed)
    assert not any(_has_repeat(h.tokens) for h in hyps)


@pytest.mark.parametrize("options", [{"beam": 1}, {"beam": 5}, {"beam": 5, "n_best": 3},
                                     {"sampling": {"seed": 1}, "n_best": 3},
                                     {"no_repeat_ngram": 0, "beam": 3}])
def test_served_replies_never_repeat_a_word(echo_bot: Chatbot, options: dict) -> None:
    for m in MESSAGES:
        r = echo_bot.reply(m, **options)
        for alt in r.alternatives:
            assert not repeats_word(echo_bot.tokenizer(alt["text"])), (m, alt)


def test_no_repeat_word_can_be_turned_off(echo_bot: Chatbot) -> None:
    bot = copy.copy(echo_bot)
    bot.defaults = DecodeDefaults(no_repeat_word=False, no_repeat_ngram=0)
    assert any(repeats_word(bot.tokenizer(bot.reply(m, beam=1).text)) for m in MESSAGES)
