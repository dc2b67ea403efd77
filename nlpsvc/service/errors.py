"""The service's error format and request validation (SPEC §4).

Every error is ``{"error": {"code", "message", "field"}}`` with a 4xx/5xx status. The body is
read here (413/415/400, and 422 for a body that is not an object); its fields are validated
against the models declared in ``schema.py``, whose errors come back in this format too.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.sansio.utils import get_content_length


class ApiError(Exception):
    """An error answered to the client as JSON."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def response(self):  # noqa: ANN201 - a Flask response tuple
        body = {"error": {"code": self.code, "message": self.message, "field": self.field}}
        return jsonify(body), self.status


def json_body() -> dict[str, Any]:
    """The request's JSON object, or the right 413/415/400/422.

    Parsed by the app's JSON provider (``jsonio``) on the raw bytes, as Flask's ``get_json``
    does but without its per-call machinery: every request pays this, and it is part of the
    service's overhead over a bare JSON endpoint. Strict JSON: no NaN/Infinity, and nesting too
    deep for the parser is a 400, not a crash.
    """
    req = request._get_current_object()  # one proxy lookup instead of one per attribute
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    env = req.environ  # werkzeug's rule, read from the environ: ``req.content_length`` builds
    length = get_content_length(env.get("CONTENT_LENGTH"),  # the headers view (~1 us)
                                env.get("HTTP_TRANSFER_ENCODING"))
    if length is not None and length > limit:
        raise ApiError(413, "too_large", f"request body exceeds {limit} bytes")
    if not req.is_json:
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    try:
        raw = _read_body(req, limit, length)
    except HTTPException as e:  # werkzeug's own limit on a body without Content-Length
        raise ApiError(413, "too_large", f"request body exceeds {limit} bytes") from e
    if len(raw) > limit:
        raise ApiError(413, "too_large", f"request body exceeds {limit} bytes")
    try:
        body = current_app.json.loads(raw)
    except UnicodeDecodeError as e:
        raise ApiError(400, "malformed_json", "request body is not valid UTF-8") from e
    except ValueError as e:
        raise ApiError(400, "malformed_json", "request body is not valid JSON") from e
    except RecursionError as e:
        raise ApiError(400, "malformed_json", "request body is nested too deeply") from e
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_type", "request body must be a JSON object")
    return body


def _read_body(req: Request, limit: int, length: int | None) -> bytes:
    """The body's bytes; a body without Content-Length (chunked) is read to ``limit + 1``.

    werkzeug reads such a body only up to the limit and silently drops the rest, so an
    oversized chunked body whose first ``limit`` bytes parse would be answered 200; one byte
    more than the limit lets the caller answer 413, as for a Content-Length over it.
    """
    if length is not None or not req.environ.get("wsgi.input_terminated"):
        return req.get_data(cache=True)  # Content-Length bounded (or no body: empty)
    stream, parts, size = req.environ["wsgi.input"], [], 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def init_app(app: Flask) -> None:
    """Answer every error, including Flask's own 404/405/413/500, in the JSON format."""

    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):  # noqa: ANN202
        return e.response()

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):  # noqa: ANN202
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            e.code or 500, "http_error"
        )
        body, status = ApiError(e.code or 500, code, e.description or e.name).response()
        # keep the exception's own headers: a 405 must say which methods are allowed (Allow)
        for name, value in e.get_headers():
            if name.lower() != "content-type":
                body.headers[name] = value
        return body, status

    @app.errorhandler(Exception)
    def _internal(e: Exception):  # noqa: ANN202
        app.logger.exception("unhandled error")
        return ApiError(500, "internal_error", "internal server error").response()
