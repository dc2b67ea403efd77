"""The playground in Debian's Chromium (Playwright), against ``nlpsvc serve`` over small models.

Playwright cannot download its own browser here, so the system ``chromium`` is launched through
``executable_path`` (``CHROMIUM`` overrides the path). A missing browser fails these tests
rather than skipping them: they only run when asked for (``make test-browser``, marker
``browser``), and ``.ci/run`` installs chromium first.

One model set with every kind (n-gram, LSTM, embeddings, classifier, chatbot) is trained by the
real CLI on a slice of the demo corpus with tiny settings (about 20 s), or taken from
``NLPSVC_BROWSER_MODELS`` (e.g. ``models`` after ``make run``, for the README's screenshots).
The server has API tokens on, so the page's token field is part of every test. Screenshots go
to ``NLPSVC_SCREENSHOTS`` (``make screenshots``: ``docs/``), else to the test's temp folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlpsvc.cli import main as cli
from tests.foundation.conftest import DEMO
from tests.serving import free_port, stop, wait_ready

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "browser-test-token"
SLICE = 1500
TINY = {
    "embeddings": {"vector_size": 16, "epochs": 2, "min_count": 2, "workers": 1,
                   "evaluate": "false"},
    "classifier": {"epochs": 3, "dim": 16, "buckets": 4096},
    "chatbot": {"epochs": 1, "hidden_size": 16, "embedding_dim": 16, "num_layers": 1,
                "eval_max_pairs": 10},
    "lstm": {"embedding_dim": 16, "hidden_size": 16, "num_layers": 1, "epochs": 1, "bptt": 10,
             "batch_size": 8, "threads": 1, "valid_max_tokens": 1000},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    if not path:
        pytest.fail("the browser tests need Debian's chromium: apt-get install -y chromium "
                    "(or set CHROMIUM=/path/to/chrome)", pytrace=False)
    return path


def corpus_slice(folder: Path) -> Path:
    """The first lines of each demo file: books (LMs, embeddings), labels, dialogues."""
    folder.mkdir(parents=True)
    for name in ("books.txt", "labeled.tsv", "dialogs.jsonl"):
        with open(DEMO / name, encoding="utf-8") as f:
            lines = [line for _, line in zip(range(SLICE), f, strict=False)]
        (folder / name).write_text("".join(lines), encoding="utf-8")
    (folder / "corpus.toml").write_text('name = "play"\n[splits]\nvalid = 0.1\ntest = 0.1\n',
                                        encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def browser_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("NLPSVC_BROWSER_MODELS")
    if given:
        return Path(given).resolve()
    root = tmp_path_factory.mktemp("browser")
    sets = [f"--set={kind}.{k}={v}" for kind, table in TINY.items() for k, v in table.items()]
    out = root / "models"
    assert cli(["train", str(corpus_slice(root / "play")), "--out", str(out), "-q", *sets]) == 0
    return out


@pytest.fixture(scope="session")
def server(browser_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``nlpsvc serve`` (2 workers, tokens on): the base URL."""
    tmp = tmp_path_factory.mktemp("server")
    tokens = tmp / "tokens.txt"
    tokens.write_text(f"# the browser tests' token\n{TOKEN}\n", encoding="utf-8")
    port = free_port()
    env = {**os.environ, "NLPSVC_REQUEST_LOG": str(tmp / "requests.log")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nlpsvc.cli", "serve", "--models", str(browser_models),
         "--port", str(port), "--workers", "2", "--tokens-file", str(tokens)],
        cwd=ROOT, env=env, stdout=open(tmp / "server.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, 90, (tmp / "server.log").read_text)
        yield base
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("NLPSVC_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(browser, server: str) -> Iterator[object]:  # noqa: ANN001
    """A fresh tab (own session storage) on the playground, token not yet entered. Every
    request it makes is recorded in ``page.requested`` (the page must fetch nothing from
    elsewhere); a JavaScript dialog or page error fails the test."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    tab.requested = []
    tab.problems = []
    tab.on("request", lambda r: tab.requested.append(r.url))
    tab.on("dialog", lambda d: (tab.problems.append(f"dialog: {d.message}"), d.dismiss()))
    tab.on("pageerror", lambda e: tab.problems.append(f"page error: {e}"))
    tab.base = server
    yield tab
    context.close()
    assert not tab.problems, tab.problems
    assert all(u.startswith(server + "/") for u in tab.requested), tab.requested
