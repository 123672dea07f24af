"""Random faults of the API listener: 429s, 5xx, answers slower than a client's timeout, dropped connections.

Each API request draws once from one generator seeded with ``FakeConfig.fault_seed``
and gets at most one fault (``FakeConfig.fault_rate_*`` are per-request rates):

- ``429``: before the work, like the rate limiter (``Retry-After: fault_retry_after_s``);
- ``5xx``: before the work, a 500, 502 or 503 problem+json (a gateway or the service failing);
- ``slow``: the work is done (a submit creates its job), then the answer waits
  ``fault_slow_s``: a client that gave up must rely on its Idempotency-Key;
- ``drop``: the work is done, then the connection is closed without any answer.

Which request gets which fault depends on the order requests arrive in; the rates and the
seed make a run's mix of faults reproducible in distribution, not request by request when
clients are concurrent. The result host and ``/_fake`` introspection are never faulted.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from starlette.requests import Request

from .config import FakeConfig

FAULT_KINDS: tuple[str, ...] = ("429", "5xx", "slow", "drop")
SERVER_ERRORS: tuple[tuple[int, str, str], ...] = (
    (500, "internal_error", "injected fault: internal error"),
    (502, "bad_gateway", "injected fault: bad gateway"),
    (503, "service_unavailable", "injected fault: try again"),
)
TRANSPORT_STATE = "fake_pyai_transport"  # key of the connection's transport in the request scope's state


class FaultInjector:
    """The seeded draw and what was injected (by kind, and by route and kind)."""

    def __init__(self, seed: int) -> None:
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self.by_kind: Counter[str] = Counter()
        self.by_route: Counter[tuple[str, str]] = Counter()

    def draw(self, config: FakeConfig, route: str) -> str | None:
        """The fault this request gets, or None. Draws only when some rate is set."""
        rates = (config.fault_rate_429, config.fault_rate_5xx, config.fault_rate_slow, config.fault_rate_drop)
        if not any(rates):
            return None
        point = self._rng.random()
        for kind, rate in zip(FAULT_KINDS, rates, strict=True):
            if point < rate:
                self.by_kind[kind] += 1
                self.by_route[(route, kind)] += 1
                return kind
            point -= rate
        return None

    def server_error(self) -> tuple[int, str, str]:
        return SERVER_ERRORS[self._rng.randrange(len(SERVER_ERRORS))]

    def stats(self) -> dict[str, Any]:
        return {
            "by_kind": {kind: self.by_kind.get(kind, 0) for kind in FAULT_KINDS},
            "by_route": {f"{route} {kind}": n for (route, kind), n in sorted(self.by_route.items())},
        }


async def drop_connection(request: Request) -> None:
    """Close the request's connection without answering; what the handler returns afterwards is discarded."""
    transport = request.scope.get("state", {}).get(TRANSPORT_STATE)
    if transport is None:
        raise RuntimeError("the listener's protocol does not expose its transport: use droppable_protocol()")
    transport.abort()  # no further write reaches the client, the socket is closed
    await asyncio.sleep(0)  # let the server see the connection lost, so it sends nothing more


def droppable_protocol(http_impl: str) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol of ``http_impl``, putting the connection's transport in each request's state."""
    if http_impl == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol as base

    class DroppableProtocol(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            # Each request's scope["state"] is a copy of app_state.
            self.app_state = {**self.app_state, TRANSPORT_STATE: transport}

    return DroppableProtocol
