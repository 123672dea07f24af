"""A fake OpenAI-compatible chat-completions server, written from the public API shape.

Self-contained (imports nothing from callmine): bearer auth, structured output
(json_schema, or rejected like an older server), 429 / 5xx / truncation / invalid-JSON
faults, fixed latency, a scripted model that answers from the transcript in the prompt,
and a record of every request.
"""

from .config import DEFAULT_API_KEY, DEFAULT_MODEL, ChatConfig, RecordedRequest
from .server import FakeOpenAIChat, serve_fake

__all__ = ["DEFAULT_API_KEY", "DEFAULT_MODEL", "ChatConfig", "FakeOpenAIChat", "RecordedRequest", "serve_fake"]
