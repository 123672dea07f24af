"""Webhook delivery when a job ends.

Contract: the service POSTs a JSON body with ``job_id`` (and ``status``) to ``webhook_url``,
signed with ``X-PyAI-Signature`` = hex HMAC-SHA256 of the raw body under the webhook secret.
One attempt, best effort: receivers must poll anyway, so a lost webhook is legal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

__all__ = ["SIGNATURE_HEADER", "deliver_webhook", "sign"]

SIGNATURE_HEADER = "X-PyAI-Signature"


def sign(body: bytes, secret: str) -> str:
    """What a receiver recomputes over the exact bytes it got, then compares in constant time."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver_webhook(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    secret: str,
    timeout_s: float,
) -> bool:
    """True if the receiver answered 2xx. Failures are swallowed: delivery is best effort."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(body, secret)}
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return response.is_success
