"""``GET /``: the playground page (static HTML/CSS/JS in ``static/``, no build step).

The page only calls the API from the same origin and never loads anything from elsewhere; the
Content-Security-Policy says so to the browser, so even a bug that put URL text into the page
as HTML could not run a script or load an image from it.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

bp = Blueprint("page", __name__)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


@bp.get("/")
def index() -> Response:
    resp = current_app.send_static_file("index.html")
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


OPENAPI_PATHS = {
    "/": {
        "get": {
            "summary": "The playground page (HTML).",
            "responses": {"200": {"description": "OK", "content": {
                "text/html": {"schema": {"type": "string"}}}}},
        }
    }
}
