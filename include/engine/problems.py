"""RFC 7807 problem+json responses in the PyAI dialect: the code is the last segment of `type`."""

from __future__ import annotations

import json
import secrets

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from callmine.dialects.pyai_hear import PROBLEM_BASE  # noqa: E402 - one definition with the client
PROBLEM_MEDIA_TYPE = "application/problem+json"

_TITLES = {
    "validation_error": "Request validation failed",
    "unauthorized": "Missing or invalid API key",
    "forbidden": "Forbidden",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "idempotency_conflict": "Idempotency key reused with a different request",
    "payload_too_large": "Payload too large",
    "unprocessable": "Request cannot be processed",
    "internal_error": "Internal server error",
}


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


class ProblemError(Exception):
    """Raised anywhere in a handler; rendered as problem+json."""

    def __init__(self, status: int, code: str, detail: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def invalid(detail: str) -> ProblemError:
    return ProblemError(400, "validation_error", detail)


def problem_response(
    status: int,
    code: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
    titles: Mapping[str, str] | None = None,
) -> Response:
    """`titles` overrides the default title table (the fake PyAI service has its own codes)."""
    request_id = request_id or new_request_id()
    body: dict[str, object] = {
        "type": PROBLEM_BASE + code,
        "title": (_TITLES if titles is None else titles).get(code, code.replace("_", " ").capitalize()),
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


def from_error(error: ProblemError, request_id: str | None = None, titles: Mapping[str, str] | None = None) -> Response:
    return problem_response(error.status, error.code, error.detail, error.headers, request_id, titles)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: routing errors and unhandled exceptions as problem+json."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "internal_error")
    detail = exc.detail if isinstance(exc, HTTPException) else "unexpected error"
    return problem_response(status, code, str(detail))


def parse_limit(raw: str | None, default: int, maximum: int) -> int:
    """A `limit` query parameter: default when absent, validation_error unless 1..maximum."""
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise ProblemError(400, "validation_error", "limit must be an integer") from None
    if not 1 <= limit <= maximum:
        raise ProblemError(400, "validation_error", f"limit must be between 1 and {maximum}")
    return limit
