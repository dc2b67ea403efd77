"""The service's JSON, both ways: Flask's default provider with a prebuilt encoder and decoder.

Requests are strict JSON: NaN/Infinity (Python extensions) are refused, and bytes must be UTF-8.
``json.dumps`` with keyword arguments (which Flask always passes) builds a new ``JSONEncoder`` on
every call; on a small ``/score`` response that is a measurable share of the request. The output
is the same compact JSON Flask writes, with keys in insertion order (the documented field order)
instead of sorted.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # Python's json accepts NaN/Infinity; RFC 8259 not


class JSONProvider(DefaultJSONProvider):
    sort_keys = False

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self._compact = json.JSONEncoder(
            separators=(",", ":"), default=self.default, ensure_ascii=self.ensure_ascii,
            sort_keys=self.sort_keys,
        )
        self._decoder = json.JSONDecoder(parse_constant=_reject_constant)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Strict JSON; bytes are UTF-8 (``UnicodeDecodeError`` otherwise)."""
        if kwargs:
            return super().loads(s, **kwargs)
        return self._decoder.decode(s.decode("utf-8") if isinstance(s, bytes) else s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)  # indented, for people reading it
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self._compact.encode(obj) + "\n",
                                        mimetype=self.mimetype)
