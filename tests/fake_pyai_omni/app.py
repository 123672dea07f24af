"""The fake's state and its two Starlette apps: the PyAI API host and the signed-URL store.

Written from the contract (provider-contracts §2, seed 001 "Get an Omni call
transcript") only; nothing here imports callmine. Where the contract is silent the
fake picks one plausible shape and says so:

- ``GET /v1/omni/calls?limit=&cursor=``: ``{object: "list", data: [{object: "omni.call",
  call_id, created_at}], has_more, next_cursor}``, newest first (assumed: the jobs
  list's pagination), opaque keyset cursors, ``limit`` 1..100 (default 20).
- ``GET /v1/omni/calls/{id}/transcript``: ``{object: "omni.call.transcript", call_id,
  transcript}``; offloaded calls answer ``transcript: null`` and a signed
  ``transcript_url`` on the store host, which refuses requests carrying an API key.
- Errors are RFC 7807 ``application/problem+json`` ``{type, title, status, detail,
  request_id}``, the code being the last path segment of ``type``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PROBLEM_BASE = "https://errors.pyai.com/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
SCOPE_READ = "omni:read"
_TITLES = {
    "validation_error": "Request validation failed",
    "unauthorized": "Missing or invalid API key",
    "forbidden": "Forbidden",
    "not_found": "Not found",
    "service_unavailable": "Service temporarily unavailable",
    "internal_error": "Internal server error",
}


@dataclass
class FakeCall:
    """One Omni call record and what its transcript endpoint answers."""

    call_id: str
    created_at: datetime  # aware; naive means UTC
    # {"turns": [...]} (timed or not) or a legacy plain string; None: no transcript ever
    # (the call failed before any speech): 404 on every request.
    transcript: dict[str, Any] | str | None = None
    offloaded: bool = False  # served from the signed store instead of inline
    created_at_as: Literal["iso", "epoch"] = "iso"  # how the listing renders created_at
    not_pushed_for: int = 0  # 404 "not pushed yet" for this many transcript requests
    held: bool = False  # 404 "not pushed yet" until the test calls push()

    def created(self) -> datetime:
        return self.created_at if self.created_at.tzinfo else self.created_at.replace(tzinfo=UTC)

    def listed(self) -> dict[str, Any]:
        at = self.created()
        rendered: Any = int(at.timestamp()) if self.created_at_as == "epoch" else at.isoformat().replace("+00:00", "Z")
        return {"object": "omni.call", "call_id": self.call_id, "created_at": rendered}


@dataclass(frozen=True)
class SeenRequest:
    host: Literal["api", "store"]
    method: str
    path: str
    query: str
    carried_key: bool  # an Authorization or x-api-key header was sent


@dataclass
class FakeOmniState:
    api_key: str = field(default_factory=lambda: "pyai_test_" + secrets.token_hex(16))
    scopes: tuple[str, ...] = (SCOPE_READ,)
    calls: dict[str, FakeCall] = field(default_factory=dict)
    fail_next: int = 0  # the next N API requests answer fail_status (an outage)
    fail_status: int = 503
    fail_retry_after: str | None = None
    offload_envelope: bool = False  # the store serves {object, call_id, transcript}, not the document
    signed_ttl_s: float = 300.0
    store_base_url: str = ""  # set by the server once the store listens
    requests: list[SeenRequest] = field(default_factory=list)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def sign(self, call_id: str, expires: int) -> str:
        return hmac.new(self.secret, f"{call_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def problem(status: int, code: str, detail: str | None = None, headers: dict[str, str] | None = None) -> Response:
    body = {"type": PROBLEM_BASE + code, "title": _TITLES.get(code, code.replace("_", " ").capitalize()),
            "status": status, "request_id": "req_" + secrets.token_hex(8)}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _carried_key(request: Request) -> bool:
    return "authorization" in request.headers or "x-api-key" in request.headers


def _record(state: FakeOmniState, host: Literal["api", "store"], request: Request) -> None:
    state.requests.append(SeenRequest(host, request.method, request.url.path, request.url.query, _carried_key(request)))


def _guard(state: FakeOmniState, request: Request) -> Response | None:
    """Injected outage first (a gateway fails before auth), then bearer/x-api-key auth, then scope."""
    if state.fail_next > 0:
        state.fail_next -= 1
        headers = {"Retry-After": state.fail_retry_after} if state.fail_retry_after else None
        code = "service_unavailable" if state.fail_status == 503 else "internal_error"
        return problem(state.fail_status, code, "injected outage", headers)
    challenge = {"WWW-Authenticate": 'Bearer realm="pyai"'}
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return problem(401, "unauthorized", "Authorization must be 'Bearer <api key>'", challenge)
    else:
        presented = request.headers.get("x-api-key") or ""
    if not presented.strip():
        return problem(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>' or 'x-api-key'", challenge)
    if not hmac.compare_digest(presented.strip().encode(), state.api_key.encode()):
        return problem(401, "unauthorized", "invalid API key", challenge)  # never echo the key
    if SCOPE_READ not in state.scopes:
        return problem(403, "forbidden", f"API key lacks required scope(s): {SCOPE_READ}")
    return None


def _encode_cursor(call: FakeCall) -> str:
    return "cur_" + urlsafe_b64encode(f"{call.created().timestamp()}|{call.call_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    if not cursor.startswith("cur_"):
        raise ValueError(cursor)
    stamp, _, call_id = urlsafe_b64decode(cursor[4:].encode()).decode().partition("|")
    return float(stamp), call_id


def create_api_app(state: FakeOmniState) -> Starlette:
    async def list_calls(request: Request) -> Response:
        with state.lock:
            _record(state, "api", request)
            if (refused := _guard(state, request)) is not None:
                return refused
            try:
                limit = int(request.query_params.get("limit", "20"))
                after = _decode_cursor(c) if (c := request.query_params.get("cursor")) else None
            except ValueError:
                return problem(400, "validation_error", "invalid limit or cursor")
            if not 1 <= limit <= 100:
                return problem(400, "validation_error", "limit must be between 1 and 100")
            # Newest first; ties broken by call_id so keyset cursors are total.
            ordered = sorted(state.calls.values(), key=lambda c: (c.created().timestamp(), c.call_id), reverse=True)
            if after is not None:
                ordered = [c for c in ordered if (c.created().timestamp(), c.call_id) < after]
            page, has_more = ordered[:limit], len(ordered) > limit
            return JSONResponse({
                "object": "list", "data": [c.listed() for c in page], "has_more": has_more,
                "next_cursor": _encode_cursor(page[-1]) if has_more else None,
            })

    async def get_transcript(request: Request) -> Response:
        call_id = request.path_params["call_id"]
        with state.lock:
            _record(state, "api", request)
            if (refused := _guard(state, request)) is not None:
                return refused
            call = state.calls.get(call_id)
            if call is None:
                return problem(404, "not_found", f"no call {call_id}")
            if call.held or call.not_pushed_for > 0 or call.transcript is None:
                call.not_pushed_for = max(0, call.not_pushed_for - 1)
                return problem(404, "not_found", f"no transcript for call {call_id}")
            body: dict[str, Any] = {"object": "omni.call.transcript", "call_id": call_id, "transcript": call.transcript}
            if call.offloaded:
                expires = int(time.time() + state.signed_ttl_s)
                body["transcript"] = None
                body["transcript_url"] = (
                    f"{state.store_base_url}/omni/transcripts/{call_id}?expires={expires}"
                    f"&signature={state.sign(call_id, expires)}"
                )
            return JSONResponse(body)

    return Starlette(routes=[
        Route("/v1/omni/calls", list_calls, methods=["GET"]),
        Route("/v1/omni/calls/{call_id}/transcript", get_transcript, methods=["GET"]),
    ])


def create_store_app(state: FakeOmniState) -> Starlette:
    """The signed-URL store: another host; the signature is the only credential it accepts."""

    async def get_offloaded(request: Request) -> Response:
        call_id = request.path_params["call_id"]
        with state.lock:
            _record(state, "store", request)
            if _carried_key(request):
                return problem(400, "validation_error", "signed URLs take no API key: drop the Authorization header")
            try:
                expires = int(request.query_params.get("expires", ""))
            except ValueError:
                return problem(403, "forbidden", "missing or malformed signature")
            signature = request.query_params.get("signature", "")
            if not hmac.compare_digest(signature, state.sign(call_id, expires)) or expires < time.time():
                return problem(403, "forbidden", "invalid or expired signature")
            call = state.calls.get(call_id)
            if call is None or call.transcript is None:
                return problem(404, "not_found", "no such object")
            if state.offload_envelope:
                return JSONResponse({"object": "omni.call.transcript", "call_id": call_id, "transcript": call.transcript})
            return JSONResponse(call.transcript)

    return Starlette(routes=[Route("/omni/transcripts/{call_id}", get_offloaded, methods=["GET"])])
