"""Run the fake OpenAI-compatible transcription server on 127.0.0.1 (free port).

>>> with FakeOpenAIAudio(latency_s=0.1) as fake:
...     httpx.post(fake.base_url + "/v1/audio/transcriptions", headers=fake.auth_headers, ...)

``base_url`` is the host without ``/v1`` (the request path carries it). The thread and the
test surface (``configure``, ``reset``, ``requests``, ...) come from tests/background_server.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.background_server import BackgroundServer, RecordingFake

from .app import AudioService, create_app
from .config import AudioConfig, RecordedRequest


class FakeOpenAIAudio(RecordingFake[RecordedRequest]):
    """``configure(rate_limit_times=2)`` changes the running server; ``reset()`` undoes it."""

    def __init__(self, config: AudioConfig | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 **overrides: Any) -> None:
        self.config = dataclasses.replace(config or AudioConfig(), **overrides)
        self.service = AudioService(self.config)
        super().__init__(BackgroundServer(create_app(self.service), host=host, port=port, name="fake-openai-audio"))
