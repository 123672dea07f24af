"""Signed result URLs (HMAC over path and expiry) and the secrets persisted in the data dir."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

SIGNED_KINDS = ("result", "srt", "vtt")


def load_or_create_secret(path: Path) -> str:
    """A random secret created once (mode 0600) and reused across restarts."""
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def _signature(secret: str, path: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_path(
    kind: str, job_id: str, secret: str, ttl_s: float, now: float | None = None, *, prefix: str = "/v1/signed"
) -> str:
    """`prefix` is where the signed routes are mounted (the fake PyAI result host uses /signed)."""
    path = f"{prefix}/{kind}/{job_id}"
    expires = math.ceil((time.time() if now is None else now) + ttl_s)
    return f"{path}?{urlencode({'expires': expires, 'sig': _signature(secret, path, expires)})}"


def verify(path: str, expires: str | None, sig: str | None, secret: str, now: float | None = None) -> str | None:
    """None when valid, else why not."""
    if not expires or not sig:
        return "missing expires or sig"
    try:
        expires_at = int(expires)
    except ValueError:
        return "malformed expires"
    if not hmac.compare_digest(_signature(secret, path, expires_at), sig):
        return "signature does not match"
    if expires_at < (time.time() if now is None else now):
        return "signed URL expired"
    return None
