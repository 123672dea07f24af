"""RFC 7807 problem+json responses, as the vendor emits them."""

from __future__ import annotations

import json
import secrets

from starlette.responses import Response

PROBLEM_BASE = "https://errors.pyai.com/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

_TITLES = {
    "validation_error": "Request validation failed",
    "unauthorized": "Missing or invalid API key",
    "credit_exhausted": "Credit exhausted",
    "forbidden": "Forbidden",
    "not_found": "Not found",
    "idempotency_conflict": "Idempotency key reused with a different request",
    "rate_limited": "Too many requests",
    "service_unavailable": "Service temporarily unavailable",
    "internal_error": "Internal server error",
}


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


class ProblemError(Exception):
    """Raised anywhere in a handler; turned into a problem+json response."""

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
        "title": _TITLES.get(code, code.replace("_", " ").capitalize()),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["request_id"] = request_id
    all_headers = {"x-request-id": request_id, **(headers or {})}
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=all_headers,
    )


def from_error(error: ProblemError, request_id: str | None = None) -> Response:
    return problem_response(error.status, error.code, error.detail, error.headers, request_id)
