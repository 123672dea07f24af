"""Run the fake CallMissed service on 127.0.0.1 (free port) in a daemon thread.

>>> with FakeCallMissed(latency_s=0.1) as fake:
...     httpx.post(fake.base_url + "/api/v1/analytics/calls/analyze", headers=fake.auth_headers, ...)

The thread, ``configure``/``reset`` and the rest of the test surface come from
``tests/background_server.py`` (shared by the fakes; ``BackgroundServer`` is re-exported here).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.background_server import BackgroundServer, RecordingFake

from .app import CallMissedService, create_app
from .config import CallMissedConfig, RecordedRequest

__all__ = ["BackgroundServer", "FakeCallMissed"]


class FakeCallMissed(RecordingFake[RecordedRequest]):
    """The fake CallMissed analytics API; ``base_url`` is the host (paths start with /api/v1).

    ``configure(server_error_times=2)`` changes the running server; ``reset()`` forgets
    requests and undoes it: one server per module, reset() per test.
    """

    def __init__(self, config: CallMissedConfig | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 **overrides: Any) -> None:
        self.config = dataclasses.replace(config or CallMissedConfig(), **overrides)
        self.service = CallMissedService(self.config)
        super().__init__(BackgroundServer(create_app(self.service), host=host, port=port, name="fake-callmissed"))
