"""``GET /``: the playground is served from the package, with nothing fetched from elsewhere."""

from __future__ import annotations

import re
from importlib import resources

from flask.testing import FlaskClient

STATIC = resources.files("nlpsvc.service") / "static"


def test_page_and_assets(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "connect-src 'self'" in csp
    html = page.get_data(as_text=True)
    for tab in ("Score", "Similar", "Classify", "Chat"):
        assert f'role="tab" id="tab-{tab.lower()}"' in html
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        resp = client.get(asset)
        assert resp.status_code == 200, asset
        resp.close()
    assert client.get("/static/nope.js").get_json()["error"]["code"] == "not_found"


def test_nothing_external_and_no_html_from_data() -> None:
    """No URL to another host in the page's files; the script never writes HTML strings."""
    for name in ("index.html", "app.js", "app.css"):
        text = (STATIC / name).read_text(encoding="utf-8")
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name
        assert "@import" not in text
    js = (STATIC / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function"):
        assert sink not in js, sink


def test_every_field_has_a_label() -> None:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html))
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    wrapped = set(re.findall(r'<label><input[^>]*\bid="([^"]+)"', html))
    assert ids and ids <= labelled | wrapped, ids - labelled - wrapped


def test_static_files_are_package_data() -> None:
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "static/*" in pyproject["tool"]["setuptools"]["package-data"]["nlpsvc.service"]
