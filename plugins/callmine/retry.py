"""Jittered exponential backoff shared by the hook (per request) and the trigger (per poll round)."""

from __future__ import annotations

import random
from dataclasses import dataclass


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
