"""The service's JSON, both ways: Flask's default provider with a prebuilt encoder and decoder.

Requests are strict JSON: NaN/Infinity (Python extensions) are refused, and bytes must be UTF-8;
an integral number written with a fraction or exponent (``2.0``) is an integer, as in JSON Schema.
``json.dumps`` with keyword arguments (which Flask always passes) builds a new ``JSONEncoder`` on
every call; on a small ``/score`` response that is a measurable share of the request. The output
is the same compact JSON Flask writes, with keys in insertion order (the documented field order)
instead of sorted. A NaN or infinity in a response is an error (a logged 500) rather than the
``NaN`` that Python's encoder writes and no JSON parser reads.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider


def _number(literal: str) -> int | float:
    """A JSON number with a fraction or exponent; integral ones (``2.0``, ``1e3``) as int.

    JSON Schema counts ``2.0`` as an integer, and the API's schema is JSON Schema, so an
    integer field accepts it. Exactly (``Decimal``), and only up to 2**64: a bigger integral
    literal stays a float (no field takes one), so ``1e999999`` cannot cost a huge ``int``.
    """
    value = float(literal)
    if value.is_integer() and abs(value) <= 2.0**64:
        return int(Decimal(literal))
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # Python's json accepts NaN/Infinity; RFC 8259 not


class JSONProvider(DefaultJSONProvider):
    sort_keys = False

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self._compact = json.JSONEncoder(
            separators=(",", ":"), default=self.default, ensure_ascii=self.ensure_ascii,
            sort_keys=self.sort_keys, allow_nan=False,  # never NaN/Infinity: a 500, logged
        )
        self._decoder = json.JSONDecoder(parse_float=_number, parse_constant=_reject_constant)

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
