"""Run the fake chat-completions server on 127.0.0.1 (free port) in a daemon thread.

>>> with FakeOpenAIChat(latency_s=0.1) as fake:
...     openai.OpenAI(base_url=fake.base_url, api_key=fake.api_key).models.list()

``base_url`` ends in ``/v1``, the way the openai client takes it. The thread and the test
surface (``configure``, ``reset``, ``requests``, ...) come from tests/background_server.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from tests.background_server import BackgroundServer, RecordingFake

from .app import ChatService, create_app
from .config import ChatConfig, RecordedRequest


class FakeOpenAIChat(RecordingFake[RecordedRequest]):
    """``configure(rate_limit_times=2)`` changes the running server; ``reset()`` undoes it
    (``reset(restore_config=False)`` only forgets requests and the in-flight peak)."""

    def __init__(self, config: ChatConfig | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 **overrides: Any) -> None:
        self.config = dataclasses.replace(config or ChatConfig(), **overrides)
        self.service = ChatService(self.config)
        # a deep accept queue: room for bursts of concurrent clients (scripts/bench_insights.py)
        server = BackgroundServer(create_app(self.service), host=host, port=port, name="fake-openai-chat",
                                  backlog=4096)
        super().__init__(server, url_path="/v1")

    @property
    def default_model(self) -> str:
        return self.config.models[0]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]


@contextlib.contextmanager
def serve_fake(latency_s: float = 0.0, **overrides: Any) -> Iterator[FakeOpenAIChat]:
    """The fake with a fixed answer latency, e.g. for the analyze_many benchmark."""
    with FakeOpenAIChat(latency_s=latency_s, **overrides) as fake:
        yield fake
