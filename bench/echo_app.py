"""A bare Flask JSON echo endpoint: the baseline ``/score`` is compared with (bench/service.py).

It does what any JSON endpoint must (parse the body, build and send a JSON response) and
nothing else, under the same gunicorn settings as the real service.
"""

from __future__ import annotations

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/echo")
    def echo():  # noqa: ANN202
        return jsonify(request.get_json())

    return app
