"""Retries: jittered exponential backoff (hooks per request, triggers per poll round) and the hooks' policy."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import tenacity


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 30.0
    jitter: float = 0.25  # +/- fraction, so a thousand waits do not fire in lockstep

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based).

        A server's Retry-After is a floor: we never come back earlier than asked.
        """
        raw = min(self.cap_s, self.base_s * self.factor**attempt)
        jittered = raw * random.uniform(1 - self.jitter, 1 + self.jitter)
        if retry_after_s is not None:
            return max(jittered, retry_after_s)
        return jittered


def retrying(backoff: Backoff, max_attempts: int, *, what: str, log: logging.Logger | logging.LoggerAdapter,
             asynchronous: bool = False) -> tenacity.BaseRetrying:
    """The one retry policy of every hook: tenacity, retrying ``retryable`` errors only.

    Each attempt must raise ``callmine.errors.ProviderError`` (transport failures converted
    to ``ProviderUnavailableError`` first); 429 / 5xx / timeouts are retried with this
    backoff, a server's Retry-After as the floor; anything final is raised at once, as is
    the last error once ``max_attempts`` are spent.
    """

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return backoff.delay(state.attempt_number - 1, getattr(error, "retry_after_s", None))

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("%s: %s; retrying in %.1fs (attempt %d/%d)", what, error,
                    state.next_action.sleep if state.next_action else 0.0, state.attempt_number, max_attempts)

    cls = tenacity.AsyncRetrying if asynchronous else tenacity.Retrying
    return cls(
        stop=tenacity.stop_after_attempt(max(1, max_attempts)),
        wait=wait,
        retry=tenacity.retry_if_exception(lambda exc: bool(getattr(exc, "retryable", False))),
        before_sleep=before_sleep,
        reraise=True,
    )
