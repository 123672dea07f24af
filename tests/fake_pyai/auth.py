"""API key authentication and scopes; key extraction is the engine's (include.engine.auth)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from include.engine.auth import ANONYMOUS, required_key, unauthorized

from .config import ALL_SCOPES, FakeConfig, KeyConfig, key_id_for
from .problems import ProblemError

REALM = "pyai"


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    key: KeyConfig | None  # None in open mode

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.key.scopes if self.key is not None else ALL_SCOPES


def authenticate(request: Request, config: FakeConfig) -> Principal:
    if config.open_mode:
        return Principal(ANONYMOUS, None)
    api_key = required_key(request, REALM)
    key = config.keys.get(api_key)
    if key is None:
        raise unauthorized("invalid API key", REALM)  # never echo the key
    return Principal(key_id_for(api_key), key)


def require_scopes(principal: Principal, *scopes: str) -> None:
    missing = [scope for scope in scopes if scope not in principal.scopes]
    if missing:
        raise ProblemError(403, "forbidden", f"API key lacks required scope(s): {', '.join(missing)}")
