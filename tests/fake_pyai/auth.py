"""API key authentication and scopes.

Contract: ``Authorization: Bearer <key>`` or the header alias ``x-api-key``; keys are
opaque, up to 512 characters, never parsed, logged or echoed.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from .config import ALL_SCOPES, MAX_KEY_LENGTH, FakeConfig, KeyConfig, key_id_for
from .problems import ProblemError

ANONYMOUS = "anonymous"  # the single principal of open mode
REALM = "pyai"


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    key: KeyConfig | None  # None in open mode

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.key.scopes if self.key is not None else ALL_SCOPES


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "unauthorized", detail, {"WWW-Authenticate": f'Bearer realm="{REALM}"'})


def presented_key(request: Request) -> str | None:
    """The key as sent; Authorization wins over x-api-key when both are present."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("Authorization must be 'Bearer <api key>'")
        return token.strip()
    return request.headers.get("x-api-key")


def authenticate(request: Request, config: FakeConfig) -> Principal:
    if config.open_mode:
        return Principal(ANONYMOUS, None)
    api_key = presented_key(request)
    if not api_key:
        raise unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'x-api-key'")
    if len(api_key) > MAX_KEY_LENGTH:
        raise unauthorized(f"API key longer than {MAX_KEY_LENGTH} characters")
    key = config.keys.get(api_key)
    if key is None:
        raise unauthorized("invalid API key")  # never echo the key
    return Principal(key_id_for(api_key), key)


def require_scopes(principal: Principal, *scopes: str) -> None:
    missing = [scope for scope in scopes if scope not in principal.scopes]
    if missing:
        raise ProblemError(403, "forbidden", f"API key lacks required scope(s): {', '.join(missing)}")
