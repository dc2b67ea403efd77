"""Every playground tab against a live server, in Chromium: results, errors, deep links, keys."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import requests

from tests.browser.conftest import TOKEN

RESULT_TIMEOUT = 15_000  # ms: the first LSTM / chatbot call of a worker imports torch


def open_page(page, hash_: str = "", token: str | None = TOKEN) -> None:  # noqa: ANN001
    """Load the page; type the token (as a user would) before following ``hash_``."""
    page.goto(page.base + "/")
    page.wait_for_selector("body[data-ready=true]")
    if token is not None:
        page.get_by_label("API token").fill(token)
        page.get_by_label("API token").blur()
    if hash_:
        page.goto(page.base + "/" + hash_)
        page.wait_for_selector("body[data-ready=true]")


def test_page_is_served_with_a_strict_policy(server: str) -> None:
    resp = requests.get(server + "/", timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    for asset in ("app.js", "app.css"):
        assert requests.get(f"{server}/static/{asset}", timeout=10).status_code == 200


def test_score_compares_kinds_side_by_side(page, shots: Path) -> None:  # noqa: ANN001
    open_page(page, "#score?text=" + quote("the queen said to alice , never mind the pineapples"))
    cards = page.locator("#score-result article.card")
    cards.nth(2).wait_for(timeout=RESULT_TIMEOUT)
    # the set has an LSTM: n-gram, LSTM and mix side by side
    assert [cards.nth(i).get_attribute("data-kind") for i in range(3)] == ["ngram", "lstm", "mix"]
    ngram = cards.nth(0)
    tokens = ngram.locator(".tok")
    assert tokens.all_inner_texts() == ["the", "queen", "said", "to", "alice", ",", "never",
                                        "mind", "the", "pineapples", "</s>"]
    tip = tokens.nth(1).get_attribute("title")
    assert "log10 p = -" in tip and "n-gram order" in tip
    assert "background-color" in tokens.nth(1).get_attribute("style")
    assert float(ngram.locator(".total").inner_text()) < 0
    assert float(ngram.locator(".ppl").inner_text()) > 1
    assert page.locator("#score-error").is_hidden()
    page.screenshot(path=str(shots / "playground-score.png"), full_page=True)


def test_similar_neighbours_analogy_and_pairs(page, shots: Path) -> None:  # noqa: ANN001
    open_page(page, "#similar")
    page.get_by_label("Word", exact=True).fill("alice")
    page.get_by_role("button", name="Find neighbours").click()
    items = page.locator("#similar-result .bars li")
    items.first.wait_for(timeout=RESULT_TIMEOUT)
    assert items.count() == 10
    assert "alice" in page.locator("#similar-result h3").inner_text()
    assert page.url.endswith("#similar?word=alice")  # shareable
    page.screenshot(path=str(shots / "playground-similar.png"), full_page=True)

    page.get_by_label("Positive words (comma-separated)").fill("queen, alice")
    page.get_by_label("Negative words (comma-separated)").fill("king")
    page.get_by_role("button", name="Solve").click()
    page.wait_for_selector("#similar-result h3:has-text('queen + alice − king')")
    assert items.count() == 10

    page.get_by_label("First word").fill("queen")
    page.get_by_label("Second word").fill("king")
    page.get_by_role("button", name="Compare").click()
    score = page.locator("#similar-result .pair strong")
    score.wait_for(timeout=RESULT_TIMEOUT)
    assert -1 <= float(score.inner_text()) <= 1


def test_classify_bars_and_variant_switch(page, shots: Path) -> None:  # noqa: ANN001
    open_page(page, "#classify?text=" + quote("the whale and the sea"))
    bars = page.locator("#classify-result .bars li")
    bars.first.wait_for(timeout=RESULT_TIMEOUT)
    assert bars.count() == 3
    probs = [float(t.rstrip("%")) for t in page.locator("#classify-result .num").all_inner_texts()]
    assert probs == sorted(probs, reverse=True) and 99 <= sum(probs) <= 101
    page.get_by_label("fastText").check()
    page.get_by_role("button", name="Classify").click()
    page.wait_for_selector("#classify-result .version:has-text('variant: fasttext')")
    page.get_by_label("linear (TF-IDF)").check()
    page.get_by_role("button", name="Classify").click()
    page.wait_for_selector("#classify-result .version:has-text('variant: linear')")
    page.screenshot(path=str(shots / "playground-classify.png"), full_page=True)


def test_chat_keeps_history_and_shows_alternatives(page, shots: Path) -> None:  # noqa: ANN001
    open_page(page, "#chat?message=" + quote("what is ai ?"))
    turns = page.locator("#chat-log .turn")
    turns.nth(1).wait_for(timeout=RESULT_TIMEOUT)
    assert turns.nth(0).inner_text().endswith("what is ai ?")
    assert "alternatives" in page.locator("#chat-log .bot details summary").inner_text()
    page.get_by_text("Decoding").click()
    assert page.get_by_label("Temperature").is_disabled()
    page.get_by_label("Sample instead of searching").check()
    assert page.get_by_label("Beam").is_disabled() and page.get_by_label("Temperature").is_enabled()
    message = page.get_by_label("Message")
    message.fill("tell me more")
    message.press("Enter")
    turns.nth(3).wait_for(timeout=RESULT_TIMEOUT)
    assert page.locator("#chat-log .turn.user").all_inner_texts()[1].endswith("tell me more")
    page.screenshot(path=str(shots / "playground-chat.png"), full_page=True)
    page.get_by_role("button", name="New conversation").click()
    assert turns.count() == 0


def test_api_errors_show_in_the_page(page) -> None:  # noqa: ANN001
    open_page(page, token=None)
    page.get_by_role("button", name="Score").last.click()
    error = page.locator("#score-error")
    error.wait_for(timeout=RESULT_TIMEOUT)
    assert "401 unauthorized" in error.inner_text() and "API token" in error.inner_text()
    page.get_by_label("API token").fill("wrong-token")
    page.get_by_role("button", name="Score").last.click()
    page.wait_for_selector("#score-error:has-text('invalid token')")
    # the token lives in this tab's session storage: kept across a reload
    page.get_by_label("API token").fill(TOKEN)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.get_by_label("API token").input_value() == TOKEN
    assert page.evaluate("sessionStorage.getItem('nlpsvc.token')") == TOKEN
    page.get_by_role("button", name="Score").last.click()
    page.locator("#score-result .card").first.wait_for(timeout=RESULT_TIMEOUT)
    assert page.locator("#score-error").is_hidden()
    # an unknown word is the API's 404, shown with its field
    page.goto(page.base + "/#similar?word=zzzqqqxxx")
    page.wait_for_selector("#similar-error:has-text('404 unknown_word')")
    assert "(field: word)" in page.locator("#similar-error").inner_text()


def test_over_long_deep_link_shows_the_422(page) -> None:  # noqa: ANN001
    open_page(page, "#score?text=" + "a" * 10_001)
    page.wait_for_selector("#score-error:has-text('422 text_too_long')", timeout=RESULT_TIMEOUT)
    assert page.locator("#score-result .card").count() == 0
    page.goto(page.base + "/#classify?text=")  # empty: the API says what is wrong
    page.wait_for_selector("#classify-error:has-text('422')", timeout=RESULT_TIMEOUT)
    page.goto(page.base + "/#chat?message=%E0%A4%A")  # malformed escapes: sent as text
    page.locator("#chat-log .turn").nth(1).wait_for(timeout=RESULT_TIMEOUT)


def test_deep_link_html_is_text_not_markup(page) -> None:  # noqa: ANN001
    payload = "<img src=x onerror=window.pwned=1><script>window.pwned=2</script>"
    for tab in ("score?text", "classify?text", "chat?message", "similar?word"):
        open_page(page, f"#{tab}=" + quote(payload))
        page.wait_for_timeout(300)
        page.wait_for_function("!document.querySelector('[aria-busy=true]')")
        assert page.evaluate("document.querySelectorAll('main img, main script').length") == 0
        assert page.evaluate("window.pwned") is None
    page.goto(page.base + "/#score?text=" + quote(payload))
    page.locator("#score-result .tok").first.wait_for(timeout=RESULT_TIMEOUT)
    assert "<" in "".join(page.locator("#score-result .tok").all_inner_texts())


def test_keyboard_and_labels(page) -> None:  # noqa: ANN001
    open_page(page)
    unlabeled = page.evaluate("""[...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.labels.length === 0).map(e => e.id || e.name)""")
    assert unlabeled == []
    page.get_by_role("tab", name="Score").focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-similar"
    assert page.locator("#panel-similar").is_visible() and page.locator("#panel-score").is_hidden()
    page.keyboard.press("End")
    assert page.get_by_role("tab", name="Chat").get_attribute("aria-selected") == "true"
    page.keyboard.press("Home")
    page.keyboard.press("Tab")  # into the Score panel, then its text box
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "score-text"
    page.keyboard.press("Control+Enter")
    page.locator("#score-result .card").first.wait_for(timeout=RESULT_TIMEOUT)


def test_model_picker_lists_the_sets(page) -> None:  # noqa: ANN001
    open_page(page)
    names = sorted({m["model"] for m in requests.get(page.base + "/models", timeout=10)
                    .json()["models"]})
    options = page.locator("#model-set option").all_inner_texts()
    assert options == names
    kinds = page.locator("#model-kinds").inner_text()
    for kind in ("ngram", "lstm", "embeddings", "classifier", "chatbot"):
        assert kind in kinds
