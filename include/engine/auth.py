"""API key authentication, tenancy and per-tenant rate limiting.

Keys come from ``CALLMINE_ENGINE_API_KEYS`` (comma-separated) and/or a key file
(``--api-key-file`` / ``CALLMINE_ENGINE_API_KEY_FILE``): one key per line, ``KEY`` or
``TENANT KEY``, ``#`` comments. The file is re-read whenever it changes (checked on each
request: one stat), so keys rotate without a restart; keys sharing a tenant name share
their jobs, so a rotated key still sees the jobs its predecessor created.

A job's owner is an opaque id (a hash of the tenant name, or of the key for a key
without one): the key itself is never stored, logged or echoed. Keys are held as
SHA-256 digests and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from .config import EngineConfig
from .problems import ProblemError

SCOPES: tuple[str, ...] = ("hear:transcribe", "transcribe:jobs")
ANONYMOUS = "anonymous"  # the single principal of open mode
MAX_KEY_LENGTH = 512
MIN_KEY_LENGTH = 16  # shorter keys are accepted with a warning
REALM = "callmine-engine"
log = logging.getLogger("callmine.engine.auth")


def key_id_for(api_key: str) -> str:
    """Stable, non-reversible id for a key."""
    return "key_" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


def tenant_id_for(tenant: str) -> str:
    return "tenant_" + hashlib.sha256(("tenant:" + tenant).encode()).hexdigest()[:12]


def unauthorized(detail: str, realm: str = REALM) -> ProblemError:
    return ProblemError(401, "unauthorized", detail, {"WWW-Authenticate": f'Bearer realm="{realm}"'})


def presented_key(request: Request, realm: str = REALM) -> str | None:
    """The key from `Authorization: Bearer` or its alias `x-api-key` (None when neither is sent)."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("Authorization must be 'Bearer <api key>'", realm)
        return token.strip()
    return request.headers.get("x-api-key")


def required_key(request: Request, realm: str = REALM) -> str:
    """The presented key, or 401 when it is missing or implausibly long (not yet checked against any list)."""
    api_key = presented_key(request, realm)
    if not api_key:
        raise unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'x-api-key'", realm)
    if len(api_key) > MAX_KEY_LENGTH:
        raise unauthorized(f"API key longer than {MAX_KEY_LENGTH} characters", realm)
    return api_key


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes  # sha256 of the key
    owner: str  # opaque tenant id


def _entry(key: str, tenant: str | None) -> _Entry:
    owner = tenant_id_for(tenant) if tenant else key_id_for(key)
    return _Entry(hashlib.sha256(key.encode()).digest(), owner)


class KeyFileError(Exception):
    pass


def parse_key_file(text: str) -> list[tuple[str, str | None]]:
    """(key, tenant or None) per non-comment line; KeyFileError on a malformed line (line number only)."""
    entries: list[tuple[str, str | None]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) == 1:
            key, tenant = fields[0], None
        elif len(fields) == 2:
            tenant, key = fields
        else:
            raise KeyFileError(f"line {number}: expected 'KEY' or 'TENANT KEY'")
        if len(key) > MAX_KEY_LENGTH:
            raise KeyFileError(f"line {number}: key longer than {MAX_KEY_LENGTH} characters")
        entries.append((key, tenant))
    return entries


class KeyRing:
    """The keys in force: the static ones plus the key file's, re-read when the file changes."""

    def __init__(self, static_keys: tuple[str, ...], key_file: Path | None) -> None:
        for key in static_keys:
            if len(key) < MIN_KEY_LENGTH:
                log.warning("an API key from CALLMINE_ENGINE_API_KEYS is shorter than %d characters", MIN_KEY_LENGTH)
        self._static = [_entry(key, None) for key in static_keys]
        self._file = key_file
        self._file_entries: list[_Entry] = []
        self._stamp: tuple[int, int, int] | None = None
        self._lock = threading.Lock()
        if key_file is not None:
            self._reload(initial=True)

    @property
    def enabled(self) -> bool:
        return bool(self._static) or self._file is not None

    def count(self) -> int:
        self._maybe_reload()
        return len(self._static) + len(self._file_entries)

    def _stat(self) -> tuple[int, int, int] | None:
        assert self._file is not None
        try:
            st = os.stat(self._file)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _reload(self, initial: bool = False) -> None:
        assert self._file is not None
        stamp = self._stat()
        try:
            entries = parse_key_file(self._file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, KeyFileError) as exc:
            reason = str(exc) if isinstance(exc, KeyFileError) else type(exc).__name__
            if initial:
                raise SystemExit(f"cannot read the API key file {self._file}: {reason}") from None
            # Fail closed: a file that cannot be read grants nothing (the static keys still work).
            log.error("API key file unreadable (%s): its keys are disabled until it is fixed", reason)
            self._file_entries, self._stamp = [], stamp
            return
        short = sum(1 for key, _ in entries if len(key) < MIN_KEY_LENGTH)
        if short:
            log.warning("%d API key(s) in the key file are shorter than %d characters", short, MIN_KEY_LENGTH)
        self._file_entries = [_entry(key, tenant) for key, tenant in entries]
        self._stamp = stamp
        if not initial:
            log.warning("API key file changed: %d key(s) in force", len(self._file_entries) + len(self._static))
        elif not entries and not self._static:
            log.error("the API key file has no key: every request will be refused")

    def _maybe_reload(self) -> None:
        if self._file is None:
            return
        stamp = self._stat()
        if stamp != self._stamp:
            with self._lock:
                if self._stat() != self._stamp:
                    self._reload()

    def owner_of(self, api_key: str) -> str | None:
        """The tenant id of a valid key, or None. Constant time over the keys in force."""
        self._maybe_reload()
        digest = hashlib.sha256(api_key.encode()).digest()
        owner = None
        for entry in (*self._static, *self._file_entries):
            if hmac.compare_digest(digest, entry.digest) and owner is None:
                owner = entry.owner
        return owner


class RateLimiter:
    """Per-tenant token buckets.

    Hand-written (30 lines) rather than a library: the candidates (limits, slowapi,
    aiolimiter) are not in the pinned runtime lock, and what is needed here is one
    in-process bucket per authenticated tenant, answered synchronously on the event loop.
    Buckets exist only for authenticated tenants, so their number is bounded by the keys.
    """

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # owner -> (tokens, last refill)

    def check(self, owner: str) -> int | None:
        """None when the request may go on (a token is taken), else the seconds to wait."""
        now = self._clock()
        tokens, last = self._buckets.get(owner, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[owner] = (tokens - 1.0, now)
            return None
        self._buckets[owner] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))


class Gate:
    """Who is calling (authentication) and whether they may call now (rate limit)."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.keys = KeyRing(config.api_keys, config.api_key_file)
        limit = config.rate_limit_in_force()
        self.limiter = RateLimiter(*limit) if limit else None

    @property
    def open_mode(self) -> bool:
        return not self.keys.enabled

    def authenticate(self, request: Request) -> str:
        """The caller's principal id (tenant id, or 'anonymous' in open mode); 401 / 429 problems."""
        if self.open_mode:
            owner = ANONYMOUS
        else:
            owner = self.keys.owner_of(required_key(request)) or ""
            if not owner:
                raise unauthorized("invalid API key")
        if self.limiter is not None:
            wait = self.limiter.check(owner)
            if wait is not None:
                raise ProblemError(429, "rate_limited", f"rate limit exceeded: retry after {wait} s",
                                   {"Retry-After": str(wait)})
        return owner


def authenticate(request: Request, config: EngineConfig) -> str:
    """The caller's principal id via the app's Gate (kept for callers holding only the config)."""
    gate: Gate | None = getattr(request.app.state, "gate", None)
    if gate is None:
        gate = Gate(config)
        request.app.state.gate = gate
    return gate.authenticate(request)
