"""Run the fake OpenAI-compatible transcription server on 127.0.0.1 (free port).

>>> with FakeOpenAIAudio(latency_s=0.1) as fake:
...     httpx.post(fake.base_url + "/v1/audio/transcriptions", headers=fake.auth_headers, ...)

``base_url`` is the host without ``/v1`` (the request path carries it).
"""

from __future__ import annotations

import dataclasses
from types import TracebackType
from typing import Any, Self

from tests.fake_callmissed.server import BackgroundServer

from .app import AudioService, create_app
from .config import AudioConfig, RecordedRequest


class FakeOpenAIAudio:
    def __init__(self, config: AudioConfig | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 **overrides: Any) -> None:
        self.config = dataclasses.replace(config or AudioConfig(), **overrides)
        self._initial = dataclasses.replace(self.config, api_keys=set(self.config.api_keys),
                                            model_formats=dict(self.config.model_formats))
        self.service = AudioService(self.config)
        self._server = BackgroundServer(create_app(self.service), host=host, port=port, name="fake-openai-audio")
        self.base_url = ""

    @property
    def api_key(self) -> str:
        """The first accepted key ("" for an open server)."""
        return next(iter(sorted(self.config.api_keys)), "")

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far (a copy), in arrival order."""
        return list(self.service.requests)

    @property
    def max_in_flight(self) -> int:
        return self.service.max_in_flight

    def configure(self, **overrides: Any) -> None:
        """Change config fields on the running server, e.g. ``configure(rate_limit_times=2)``."""
        unknown = set(overrides) - {f.name for f in dataclasses.fields(AudioConfig)}
        if unknown:
            raise TypeError(f"unknown AudioConfig fields: {sorted(unknown)}")
        for name, value in overrides.items():
            setattr(self.config, name, value)  # the service holds this very object

    def reset(self) -> None:
        """Forget requests and undo configure(): one server per module, reset() per test."""
        initial = self._initial
        self.configure(**{f.name: getattr(initial, f.name) for f in dataclasses.fields(initial)})
        self.config.api_keys, self.config.model_formats = set(initial.api_keys), dict(initial.model_formats)
        self.service.reset()

    def start(self) -> Self:
        self._server.start()
        self.base_url = self._server.url
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
