"""RFC 7807 problem+json responses, as the vendor emits them.

Rendering is the engine's (include.engine.problems); the fake only adds the titles of the
vendor codes the engine never emits (credit, rate limit, injected outages).
"""

from __future__ import annotations

import functools

from include.engine import problems as _engine
from include.engine.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, ProblemError, http_error, invalid, new_request_id, parse_limit

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

problem_response = functools.partial(_engine.problem_response, titles=_TITLES)
from_error = functools.partial(_engine.from_error, titles=_TITLES)
