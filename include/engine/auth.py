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
REALM = "callmine-engine"


def key_id_for(api_key: str) -> str:
    """Stable, non-reversible id for a key."""
    return "key_" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


def unauthorized(detail: str, realm: str = REALM) -> ProblemError:
    return ProblemError(401, "unauthorized", detail, {"WWW-Authenticate": f'Bearer realm="{realm}"'})


def presented_key(request: Request, realm: str = REALM) -> str | None:
    """The key from `Authorization: Bearer` or its alias `x-api-key` (None when neither is sent)."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("Authorization must be 'Bearer <api key>'", realm)
        return token.strip()
    return request.headers.get("x-api-key")


def required_key(request: Request, realm: str = REALM) -> str:
    """The presented key, or 401 when it is missing or implausibly long (not yet checked against any list)."""
    api_key = presented_key(request, realm)
    if not api_key:
        raise unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'x-api-key'", realm)
    if len(api_key) > MAX_KEY_LENGTH:
        raise unauthorized(f"API key longer than {MAX_KEY_LENGTH} characters", realm)
    return api_key


def authenticate(request: Request, config: EngineConfig) -> str:
    """The caller's principal id (key id, or 'anonymous' in open mode)."""
    if config.open_mode:
        return ANONYMOUS
    api_key = required_key(request)
    presented = api_key.encode()
    matched = False
    for known in config.api_keys:  # constant-time against every configured key
        matched |= hmac.compare_digest(presented, known.encode())
    if not matched:
        raise unauthorized("invalid API key")
    return key_id_for(api_key)
