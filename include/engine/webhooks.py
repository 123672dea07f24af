"""Webhook delivery on terminal status: JSON body signed with hex HMAC-SHA256, best effort."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging

from typing import Any

import httpx

SIGNATURE_HEADER = "X-PyAI-Signature"
log = logging.getLogger("callmine.engine.webhooks")


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    secret: str,
    *,
    timeout_s: float = 5.0,
    attempts: int = 3,
    backoff_s: float = 0.5,
) -> bool:
    """True once the receiver answers 2xx; retries transport errors and 5xx/429, never raises."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(body, secret)}
    for attempt in range(1, attempts + 1):
        try:
            response = await client.post(url, content=body, headers=headers, timeout=timeout_s)
            if response.is_success:
                return True
            if response.status_code < 500 and response.status_code != 429:
                log.warning("webhook for %s rejected: HTTP %s", payload.get("job_id"), response.status_code)
                return False
        except httpx.HTTPError as exc:
            log.info("webhook for %s attempt %d failed: %s", payload.get("job_id"), attempt, type(exc).__name__)
        if attempt < attempts:
            await asyncio.sleep(backoff_s * attempt)
    log.warning("webhook for %s gave up after %d attempts", payload.get("job_id"), attempts)
    return False
