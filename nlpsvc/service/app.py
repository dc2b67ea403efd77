"""WSGI entry point for gunicorn: ``gunicorn 'nlpsvc.service.app:create_app()'``.

Also ``flask --app nlpsvc.service.app run`` in development. Configuration comes from
``NLPSVC_*`` environment variables (e.g. ``NLPSVC_MODELS_DIR=models``).
"""

from nlpsvc.service import create_app

__all__ = ["create_app"]
