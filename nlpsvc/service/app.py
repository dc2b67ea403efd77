"""WSGI entry point for gunicorn: ``gunicorn 'nlpsvc.service.app:create_app()'``.

Also ``flask --app nlpsvc.service.app run`` in development. Configuration comes from
``NLPSVC_*`` environment variables (e.g. ``NLPSVC_MODELS_DIR=models``). Importing it makes
gunicorn's own error pages JSON (``gunicorn_errors``), as ``nlpsvc serve`` does.
"""

from nlpsvc.service import create_app, gunicorn_errors

gunicorn_errors.install()

__all__ = ["create_app"]
