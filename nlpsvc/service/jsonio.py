"""The service's JSON responses: Flask's default provider with one prebuilt encoder.

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


class JSONProvider(DefaultJSONProvider):
    sort_keys = False

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self._compact = json.JSONEncoder(
            separators=(",", ":"), default=self.default, ensure_ascii=self.ensure_ascii,
            sort_keys=self.sort_keys,
        )

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)  # indented, for people reading it
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self._compact.encode(obj) + "\n",
                                        mimetype=self.mimetype)
