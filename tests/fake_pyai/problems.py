"""RFC 7807 problem+json responses, as the vendor emits them.

Contract: ``{type, title, status, detail?, request_id?}`` with media type
``application/problem+json``; the stable code is the last path segment of ``type``.
Written from the contract alone, so it cannot drift together with the engine or the client.
"""

from __future__ import annotations

import json
import secrets

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "PROBLEM_BASE",
    "PROBLEM_MEDIA_TYPE",
    "ProblemError",
    "from_error",
    "http_error",
    "invalid",
    "new_request_id",
    "parse_limit",
    "problem_response",
]

PROBLEM_BASE = "https://errors.pyai.com/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# Every code the fake emits; unknown codes get a title derived from the code.
_TITLES = {
    "validation_error": "Request validation failed",
    "unauthorized": "Missing or invalid API key",
    "credit_exhausted": "Credit exhausted",
    "forbidden": "Forbidden",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "idempotency_conflict": "Idempotency key reused with a different request",
    "rate_limited": "Too many requests",
    "service_unavailable": "Service temporarily unavailable",
    "internal_error": "Internal server error",
}


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


class ProblemError(Exception):
    """Raised anywhere in a handler; rendered as a problem+json response."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def invalid(detail: str) -> ProblemError:
    """The vendor's 400 for any request it cannot accept as sent."""
    return ProblemError(400, "validation_error", detail)


def problem_response(
    status: int,
    code: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
) -> Response:
    request_id = request_id or new_request_id()
    body: dict[str, object] = {
        "type": PROBLEM_BASE + code,
        "title": _TITLES.get(code) or code.replace("_", " ").capitalize(),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["request_id"] = request_id
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"x-request-id": request_id, **(headers or {})},
    )


def from_error(error: ProblemError, request_id: str | None = None) -> Response:
    return problem_response(error.status, error.code, error.detail, error.headers, request_id)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: unknown routes, wrong methods and crashes stay problem+json."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "internal_error")
    detail = str(exc.detail) if isinstance(exc, HTTPException) else "unexpected error"
    return problem_response(status, code, detail)


def parse_limit(raw: str | None, default: int, maximum: int) -> int:
    """The ``limit`` query parameter of a listing: default when absent, 400 unless 1..maximum."""
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise invalid("limit must be an integer") from None
    if not 1 <= limit <= maximum:
        raise invalid(f"limit must be between 1 and {maximum}")
    return limit
