"""API tokens: with ``NLPSVC_API_TOKENS`` or ``--tokens-file`` set, every POST needs a Bearer token.

GET routes (``/``, ``/health``, ``/ready``, ``/models``, ``/metrics``, ...) stay open so probes,
scrapers and the playground page work without one; the models are only used by POSTs.

Tokens are compared in constant time: the presented token and every known one are hashed to
SHA-256 and all digests are compared with ``hmac.compare_digest`` (no early exit), so neither the
token's length nor how much of it matched shows in the response time. A bad configuration stops
the server at start-up rather than running it open: a tokens file line that is not a token is
named, and a list with no token in it is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask

from nlpsvc.service.errors import ApiError

ENV = "NLPSVC_API_TOKENS"
# RFC 6750 b64token: what may follow "Bearer " in an Authorization header.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
CHALLENGE = 'Bearer realm="nlpsvc"'


class TokenConfigError(ValueError):
    """The tokens configuration is unusable; the server must not start (open) with it."""


def parse_tokens(values: Iterable[str], source: str) -> list[str]:
    """Non-empty, well-formed tokens from ``values`` (already split); error names the bad one."""
    out = []
    for i, raw in enumerate(values, 1):
        token = raw.strip()
        if not token:
            continue
        if not _TOKEN.fullmatch(token):
            raise TokenConfigError(f"{source}: entry {i} is not a token (letters, digits and "
                                   "-._~+/ then optional '=' padding; no spaces)")
        out.append(token)
    if not out:
        raise TokenConfigError(f"{source}: no token in it; refusing to start without access "
                               f"control (unset it to serve without tokens)")
    return out


def read_tokens_file(path: str | Path) -> list[str]:
    """One token per line; blank lines and ``#`` comments (whole-line or trailing) ignored."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TokenConfigError(f"tokens file {path}: cannot read it ({e})") from e
    tokens = []
    for n, line in enumerate(text.splitlines(), 1):
        token = line.split("#", 1)[0].strip()
        if not token:
            continue
        if not _TOKEN.fullmatch(token):
            raise TokenConfigError(f"tokens file {path}, line {n}: not a token (letters, digits "
                                   "and -._~+/ then optional '=' padding; no spaces)")
        tokens.append(token)
    if not tokens:
        raise TokenConfigError(f"tokens file {path}: no token in it; refusing to start without "
                               "access control")
    return tokens


def configured_tokens(config: dict[str, Any], environ: dict[str, str] | None = None,
                      ) -> list[str] | None:
    """The tokens from the app config (``API_TOKENS`` list, ``TOKENS_FILE``) or the environment.

    None when access control is off (nothing set). ``NLPSVC_API_TOKENS`` is read raw from the
    environment: Flask's prefixed-env loading would turn ``123`` into a number.
    """
    environ = os.environ if environ is None else environ
    tokens: list[str] = []
    found = False
    if config.get("API_TOKENS") is not None and not isinstance(config["API_TOKENS"], str | int):
        found = True
        tokens += parse_tokens(list(config["API_TOKENS"]), "API_TOKENS")
    elif ENV in environ:
        found = True
        tokens += parse_tokens(environ[ENV].split(","), ENV)
    if config.get("TOKENS_FILE"):
        found = True
        tokens += read_tokens_file(config["TOKENS_FILE"])
    return tokens if found else None


class TokenCheck:
    """Compares presented tokens with the configured ones (constant time, see module)."""

    def __init__(self, tokens: list[str]) -> None:
        self._digests = [hashlib.sha256(t.encode()).digest() for t in tokens]

    def valid(self, token: str) -> bool:
        given = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        ok = False
        for digest in self._digests:  # every one compared: no early exit
            ok |= hmac.compare_digest(given, digest)
        return ok

    def problem(self, header: str | None) -> Unauthorized | None:
        """None when ``header`` (the Authorization value) carries a valid Bearer token."""
        if header is None:
            return Unauthorized("missing Authorization header: send 'Bearer <token>'")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Unauthorized("Authorization must be 'Bearer <token>'", "invalid_request")
        if not self.valid(token.strip()):
            return Unauthorized("invalid token", "invalid_token")
        return None


class TokenGate:
    """WSGI middleware: POSTs without a valid token get the 401 before Flask runs.

    At the WSGI level rather than a Flask ``before_request`` hook: reading the method and the
    header from the environ costs a fraction of Flask's request proxies, on every POST.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], tokens: list[str]) -> None:
        self.app, self.check = app, TokenCheck(tokens)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any],
                 ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            problem = self.check.problem(environ.get("HTTP_AUTHORIZATION"))
            if problem is not None:
                body = json.dumps({"error": {"code": problem.code, "message": problem.message,
                                             "field": None}}).encode() + b"\n"
                start_response("401 UNAUTHORIZED", [
                    ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    ("WWW-Authenticate", problem.challenge)])
                return [body]
        return self.app(environ, start_response)


class Unauthorized(ApiError):
    """A 401 and its ``WWW-Authenticate`` challenge (RFC 6750 §3: no error code when no
    credentials were sent, ``invalid_token`` / ``invalid_request`` otherwise)."""

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(401, "unauthorized", message, None)
        self.challenge = CHALLENGE + (f', error="{error}"' if error else "")


def init_app(app: Flask, tokens: list[str] | None) -> None:
    """Install the token gate when there are tokens (``configured_tokens``; None: open).

    Call it after everything else that wraps ``app.wsgi_app`` on the inside (the request log
    and metrics wrap the gate, so 401s are logged and counted too)."""
    app.extensions["nlpsvc.auth"] = tokens is not None
    if tokens is not None:
        app.wsgi_app = TokenGate(app.wsgi_app, tokens)  # type: ignore[method-assign]
