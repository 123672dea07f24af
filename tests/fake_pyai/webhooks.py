"""Webhook delivery: JSON body signed with HMAC-SHA256, best effort."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

SIGNATURE_HEADER = "X-PyAI-Signature"


def sign(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of the raw body: what receivers must recompute and compare."""
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
