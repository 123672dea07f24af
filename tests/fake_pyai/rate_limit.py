"""Per-key token buckets (requests_per_second refill, burst capacity)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    tokens: float
    updated: float

    def take(self, now: float, rate: float, capacity: float) -> float:
        """Spend one token; 0.0 if allowed, else seconds until one is available.

        Rate and capacity come with each call so a reconfigured fake applies them at once.
        """
        self.tokens = min(capacity, self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / rate


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, key_id: str, rate: float | None, burst: int) -> int | None:
        """None if allowed, else the Retry-After to send (whole seconds, at least 1)."""
        if rate is None or rate <= 0:
            return None
        now = time.monotonic()
        capacity = float(max(burst, 1))
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = TokenBucket(capacity, now)
        wait = bucket.take(now, rate, capacity)
        if wait <= 0:
            return None
        return max(1, math.ceil(wait))

    def reset(self) -> None:
        self._buckets.clear()
