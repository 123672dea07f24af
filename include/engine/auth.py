"""API key authentication: `Authorization: Bearer <key>` or `x-api-key`. Keys are never logged or echoed."""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

from .config import EngineConfig
from .problems import ProblemError

SCOPES: tuple[str, ...] = ("hear:transcribe", "transcribe:jobs")
ANONYMOUS = "anonymous"  # the single principal of open mode
MAX_KEY_LENGTH = 512
_WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="callmine-engine"'}


def key_id_for(api_key: str) -> str:
    """Stable, non-reversible id for a key."""
    return "key_" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "unauthorized", detail, _WWW_AUTHENTICATE)


def presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("Authorization must be 'Bearer <api key>'")
        return token.strip()
    return request.headers.get("x-api-key")


def authenticate(request: Request, config: EngineConfig) -> str:
    """The caller's principal id (key id, or 'anonymous' in open mode)."""
    if config.open_mode:
        return ANONYMOUS
    api_key = presented_key(request)
    if not api_key:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'x-api-key'")
    if len(api_key) > MAX_KEY_LENGTH:
        raise _unauthorized(f"API key longer than {MAX_KEY_LENGTH} characters")
    presented = api_key.encode()
    matched = False
    for known in config.api_keys:  # constant-time against every configured key
        matched |= hmac.compare_digest(presented, known.encode())
    if not matched:
        raise _unauthorized("invalid API key")
    return key_id_for(api_key)
