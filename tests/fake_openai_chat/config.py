"""What a test can turn on the fake chat-completions server, and what it records.

Fault counters ("n times then OK") count down across all requests in arrival order,
so ``rate_limit_times=2`` means the first two chat requests get 429 and the third succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_API_KEY = "sk-fake-0123456789abcdefTESTKEY"
DEFAULT_MODEL = "fake-chat-1"

# A responder gets the request body (dict) and returns the assistant message content,
# or None to fall back to the scripted model.
Responder = Callable[[dict[str, Any]], str | None]


@dataclass(slots=True)
class ChatConfig:
    api_keys: set[str] = field(default_factory=lambda: {DEFAULT_API_KEY})  # empty = open server
    models: list[str] = field(default_factory=lambda: [DEFAULT_MODEL])

    # Structured output: False = answer 400 "Unrecognized request argument supplied:
    # response_format" like servers that predate it.
    json_schema_supported: bool = True
    # A strict json_schema is checked the way OpenAI does (every property required,
    # additionalProperties false); a bad schema gets 400.
    check_strict_schema: bool = True

    # --- fault injection, each "the next n chat requests" ---
    rate_limit_times: int = 0
    retry_after_s: float | None = 0.05  # sent as retry-after-ms and (rounded up) Retry-After
    server_error_times: int = 0
    server_error_status: int = 500
    truncate_times: int = 0  # finish_reason "length", JSON cut in half
    invalid_json_times: int = 0  # prose around a broken JSON object

    # --- timing ---
    latency_s: float = 0.0  # asyncio.sleep per successful answer: concurrent requests overlap

    # --- answers ---
    script: list[str] = field(default_factory=list)  # contents served first, in order
    responder: Responder | None = None


@dataclass(slots=True)
class RecordedRequest:
    """One request as the server saw it (the Authorization header is never kept)."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: dict[str, Any] | None
    started_at: float
    finished_at: float = 0.0
    usage: dict[str, int] | None = None  # what the response reported, for token-sum assertions
    answer: str | None = None  # the assistant content served
    finish_reason: str | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or [])

    @property
    def model(self) -> str | None:
        return (self.body or {}).get("model")

    @property
    def response_format(self) -> dict[str, Any] | None:
        return (self.body or {}).get("response_format")

    def text(self) -> str:
        """All message contents joined: handy for ``"..." in req.text()``."""
        return "\n".join(str(m.get("content") or "") for m in self.messages)
