"""Signed URLs on the result host, S3-presigned style: HMAC over path and expiry."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from urllib.parse import urlencode

RESULT_KINDS = ("result", "srt", "vtt")


def _signature(secret: str, path: str, expires: int) -> str:
    message = f"{path}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_path(kind: str, job_id: str, secret: str, ttl_s: float, now: float | None = None) -> str:
    path = f"/signed/{kind}/{job_id}"
    expires = math.ceil((now if now is not None else time.time()) + ttl_s)
    query = urlencode({"expires": expires, "sig": _signature(secret, path, expires)})
    return f"{path}?{query}"


def verify(path: str, expires: str | None, sig: str | None, secret: str, now: float | None = None) -> str | None:
    """None when valid, else the reason it is not."""
    if not expires or not sig:
        return "missing expires or sig"
    try:
        expires_at = int(expires)
    except ValueError:
        return "malformed expires"
    if not hmac.compare_digest(_signature(secret, path, expires_at), sig):
        return "signature does not match"
    if expires_at < (now if now is not None else time.time()):
        return "signed URL expired"
    return None
