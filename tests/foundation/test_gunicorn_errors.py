"""gunicorn's own error pages as the service's JSON errors (unit level; over HTTP in
``test_gunicorn.py``)."""

from __future__ import annotations

import json

from gunicorn import util

from nlpsvc.service import gunicorn_errors


def test_error_page_is_json_with_a_one_line_message() -> None:
    raw = gunicorn_errors.error_page(400, "Bad Request", "Invalid Request Line 'a\r\nb" + "x" * 500)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Content-Type: application/json" in head
    assert f"Content-Length: {len(body)}".encode() in head
    error = json.loads(body)["error"]
    assert error["code"] == "bad_request" and error["field"] is None
    assert "\n" not in error["message"] and len(error["message"]) == gunicorn_errors.MAX_MESSAGE


def test_install_replaces_the_function_gunicorn_workers_call() -> None:
    before = util.write_error
    try:
        gunicorn_errors.install()
        assert util.write_error is gunicorn_errors.write_json_error
    finally:
        util.write_error = before
