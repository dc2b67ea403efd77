"""A bare Flask JSON echo endpoint: the baseline ``/score`` is compared with (bench/service.py).

It does what any JSON endpoint must (parse the body, build and send a JSON response) and
nothing else, under the same gunicorn settings as the real service and with the service's own
JSON provider (the same strict decoder and prebuilt encoder), so the ratio measures scoring.
"""

from __future__ import annotations

from flask import Flask, jsonify, request

from nlpsvc.service.jsonio import JSONProvider


def create_app() -> Flask:
    app = Flask(__name__)
    app.json = JSONProvider(app)

    @app.post("/echo")
    def echo():  # noqa: ANN202
        return jsonify(request.get_json())

    return app
