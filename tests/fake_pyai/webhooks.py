"""Webhook delivery: the engine's signed delivery, with a single attempt (the vendor does not retry)."""

from __future__ import annotations

from typing import Any

import httpx

from include.engine.webhooks import SIGNATURE_HEADER, deliver, sign

__all__ = ["SIGNATURE_HEADER", "deliver_webhook", "sign"]


async def deliver_webhook(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    secret: str,
    timeout_s: float,
) -> bool:
    """True if the receiver answered 2xx. Failures are swallowed: delivery is best effort."""
    return await deliver(client, url, payload, secret, timeout_s=timeout_s, attempts=1)
