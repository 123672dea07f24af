"""Signed URLs on the result host, S3-presigned style.

Contract: offloaded results (and SRT/VTT) are fetched from a signed URL, without the API
key, on another host. The URL carries ``expires`` (unix seconds) and ``sig``, a hex
HMAC-SHA256 binding the path to the expiry, so neither can be edited.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from urllib.parse import urlencode

__all__ = ["RESULT_KINDS", "SIGNED_PREFIX", "signed_path", "verify"]

RESULT_KINDS = ("result", "srt", "vtt")
SIGNED_PREFIX = "/signed"


def _signature(secret: str, path: str, expires: int) -> str:
    message = f"GET {path} {expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_path(kind: str, job_id: str, secret: str, ttl_s: float, now: float | None = None) -> str:
    """Path and query of a signed URL; the caller prefixes the result host's base URL."""
    path = f"{SIGNED_PREFIX}/{kind}/{job_id}"
    expires = math.ceil((time.time() if now is None else now) + ttl_s)
    return f"{path}?{urlencode({'expires': expires, 'sig': _signature(secret, path, expires)})}"


def verify(path: str, expires: str | None, sig: str | None, secret: str, now: float | None = None) -> str | None:
    """None when the URL is valid, else why it is not (sent as the 403 detail)."""
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
