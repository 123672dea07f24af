"""Configuration of the fake PyAI Hear service: every knob tests and demos can turn."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

SCOPE_TRANSCRIBE = "hear:transcribe"
SCOPE_JOBS = "transcribe:jobs"
ALL_SCOPES: tuple[str, ...] = (SCOPE_TRANSCRIBE, SCOPE_JOBS)

DEFAULT_API_KEY = "pyai_test_fake_key"
MAX_KEY_LENGTH = 512  # contract: keys are opaque strings of up to 512 characters

KeyState = Literal["ok", "credit_exhausted"]
ErrorShape = Literal["by_kind", "string", "object"]
WordTokenKey = Literal["word", "text"]


@dataclass(frozen=True, slots=True)
class KeyConfig:
    """One accepted API key: what it may do and whether it can still spend."""

    scopes: tuple[str, ...] = ALL_SCOPES
    state: KeyState = "ok"
    env: Literal["test", "live"] = "test"
    # Per-key rate limit overrides; None means "use the FakeConfig default".
    requests_per_second: float | None = None
    burst: int | None = None


def key_id_for(api_key: str) -> str:
    """Stable, non-reversible id for a key: /v1/me and job ownership must never carry the key."""
    return "key_" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


def _default_keys() -> dict[str, KeyConfig]:
    return {DEFAULT_API_KEY: KeyConfig()}


@dataclass(slots=True)
class FakeConfig:
    """All behaviour of the fake. Defaults are faithful to the vendor contract.

    An empty ``keys`` dict means *open mode*: no authentication, like a local dev service.
    """

    keys: dict[str, KeyConfig] = field(default_factory=_default_keys)

    # --- timing: job status is derived lazily from time since submit ---
    latency_s: float = 0.5
    slow_latency_s: float = 5.0
    slow_marker: str = "slow"  # in the filename / audio_url -> slow_latency_s
    cancel_marker: str = "cancel-me"  # in the filename / audio_url -> job ends "cancelled"
    queued_fraction: float = 0.2  # share of the latency spent "queued" before "processing"

    # --- audio fetching (audio_url submissions) ---
    allow_http_audio: bool = False  # faithful: only https; loopback tests/demos set True
    audio_fetch_timeout_s: float = 10.0
    max_audio_bytes: int = 512 * 1024 * 1024
    max_concurrent_fetches: int = 32

    # --- rate limiting: per-key token bucket; None disables it ---
    requests_per_second: float | None = 50.0
    burst: int = 100

    # --- fault injection (0 / None = off) ---
    fail_every_n_get: int = 0  # every Nth GET of a job answers 503
    slow_response_every_n: int = 0  # every Nth API request sleeps slow_response_s first
    slow_response_s: float = 2.0

    # --- random faults: each API request (not /_fake, not the result host) draws once from
    # a generator seeded with fault_seed, and gets at most one fault. Rates are per request.
    fault_seed: int = 0
    fault_rate_429: float = 0.0  # before the work: 429 rate_limited with Retry-After
    fault_rate_5xx: float = 0.0  # before the work: 500 / 502 / 503 problem+json
    fault_rate_slow: float = 0.0  # after the work: answer only after fault_slow_s (past a client's timeout)
    fault_rate_drop: float = 0.0  # after the work: close the connection without any answer
    fault_retry_after_s: int = 1  # the Retry-After of an injected 429
    fault_slow_s: float = 35.0

    @property
    def fault_rate(self) -> float:
        """The share of API requests that get a random fault (of any kind)."""
        return self.fault_rate_429 + self.fault_rate_5xx + self.fault_rate_slow + self.fault_rate_drop

    # --- results ---
    # Results whose JSON is larger than this go to result_url on the result host.
    # None = always inline, 0 = always offloaded.
    offload_over_bytes: int | None = 4096
    signed_url_ttl_s: float = 3600.0
    signing_secret: str = "fake-pyai-url-signing-secret"
    # Both shapes are legal per contract; "by_kind" = string for decode failures,
    # object {code, message} for fetch / URL failures.
    error_shape: ErrorShape = "by_kind"
    # None = vary per job (by job id hash), since both are legal per contract.
    word_token_key: WordTokenKey | None = None
    word_confidence: bool | None = None

    # --- webhooks ---
    webhook_secret: str = "whsec_fake_pyai"
    webhook_timeout_s: float = 5.0

    # --- listing ---
    list_default_limit: int = 20
    list_max_limit: int = 100

    def limits_for(self, key: KeyConfig | None) -> tuple[float | None, int]:
        """(requests_per_second, burst) for a key, falling back to the global defaults."""
        if key is None:
            return self.requests_per_second, self.burst
        rps = key.requests_per_second if key.requests_per_second is not None else self.requests_per_second
        burst = key.burst if key.burst is not None else self.burst
        return rps, burst

    @property
    def open_mode(self) -> bool:
        return not self.keys
