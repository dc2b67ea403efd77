"""nlpsvc: NLP text models from corpus to service."""

__version__ = "0.1.0"
