"""Exceptions for speech-provider calls, mapped from RFC 7807 problem+json answers.

Final errors (401/402/403/404/409/400) must not be retried: retrying a bad key or an
idempotency conflict only burns quota. Retryable ones (429, 5xx, timeouts) carry how
long the server asked us to wait, when it said.
"""

from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """A speech provider refused or failed a request."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after_s = retry_after_s


class RetryableProviderError(ProviderError):
    retryable = True


class RateLimitedError(RetryableProviderError):
    """429: the per-key rate limit; ``retry_after_s`` says when to come back."""


class ProviderUnavailableError(RetryableProviderError):
    """5xx, connection failures and timeouts."""


class AuthenticationError(ProviderError):
    """401: the key is missing, malformed or revoked."""


class CreditExhaustedError(ProviderError):
    """402: the organisation is out of prepaid credit."""


class PermissionDeniedError(ProviderError):
    """403: the key lacks a scope (jobs need hear:transcribe and transcribe:jobs)."""


class NotFoundError(ProviderError):
    """404: no such job (or result)."""


class IdempotencyConflictError(ProviderError):
    """409: the same Idempotency-Key was used with a different body."""


class ValidationError(ProviderError):
    """400/422: the request itself is wrong."""


_BY_STATUS: dict[int, type[ProviderError]] = {
    400: ValidationError,
    401: AuthenticationError,
    402: CreditExhaustedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: IdempotencyConflictError,
    422: ValidationError,
    429: RateLimitedError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the delta form; an HTTP date is rare enough to ignore)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(
    status: int, body: Any, headers: dict[str, str] | None = None, *, what: str = "request"
) -> ProviderError:
    """Build the exception for a non-2xx answer; ``body`` is the decoded JSON or text."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    problem = body if isinstance(body, dict) else {}
    type_uri = str(problem.get("type") or "")
    code = type_uri.rstrip("/").rsplit("/", 1)[-1] or None
    title = problem.get("title") or (body if isinstance(body, str) and body else None) or f"HTTP {status}"
    detail = problem.get("detail")
    request_id = problem.get("request_id") or headers.get("x-request-id")
    message = f"{what} failed: {status} {title}"
    if detail:
        message += f": {detail}"
    if code:
        message += f" [{code}]"
    if request_id:
        message += f" (request_id {request_id})"
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ProviderUnavailableError if status >= 500 else ProviderError
    return cls(
        message,
        status=status,
        code=code,
        request_id=request_id,
        retry_after_s=parse_retry_after(headers.get("retry-after")),
    )


# Answers that condemn one recording, not the provider configuration.
_PER_RECORDING = frozenset({400, 409, 413, 415, 422})
# Answers no retry can fix: an operator must change the key, the plan or the scopes.
_FATAL = frozenset({401, 402, 403})


def outcome_of(exc: ProviderError, conn_id: str):
    """A provider error as the pipeline's outcome: ``Rejected``, ``RetryLater`` or ``Fatal``.

    Used by providers whose errors come from ``error_from_response``; the message never
    carries the key (it is built from the answer's status and problem document).
    """
    from callmine.providers.base import Fatal, Rejected, RetryLater

    if exc.retryable or exc.status is None:
        return RetryLater(str(exc), exc.retry_after_s)
    if exc.status in _FATAL:
        hint = {401: "the API key is missing, malformed or revoked", 402: "the account is out of credit",
                403: "the API key lacks a required scope"}[exc.status]
        return Fatal(f"{exc} — {hint}: fix the Airflow connection {conn_id!r}")
    if exc.status in _PER_RECORDING:
        return Rejected(f"provider rejected the recording: {exc}")
    if exc.status == 404:
        return Fatal(f"{exc} — the service does not know this path: check the host of the Airflow connection {conn_id!r}")
    return RetryLater(str(exc), exc.retry_after_s)
