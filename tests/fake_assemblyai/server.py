"""Run the fake AssemblyAI service in a background thread (uvicorn on 127.0.0.1, a free port).

The thread and ``configure``/``reset`` come from tests/background_server.py (shared by the fakes).
"""

from __future__ import annotations

from typing import Any

from tests.background_server import BackgroundServer, ConfigurableFake, uvloop_if_installed

from .app import create_app
from .config import FakeAssemblyAIConfig
from .service import FakeAssemblyAIService


class FakeAssemblyAI(ConfigurableFake):
    """The fake service as a context manager.

    >>> with FakeAssemblyAI(FakeAssemblyAIConfig(latency_s=0.05)) as fake:
    ...     httpx.get(fake.base_url + "/v2/transcript", headers={"authorization": fake.api_key})

    ``configure(fail_next_5xx=2)`` changes the running server; ``reset()`` forgets transcripts,
    uploads and counters, and undoes it.
    """

    def __init__(self, config: FakeAssemblyAIConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config if config is not None else FakeAssemblyAIConfig()
        self.service = FakeAssemblyAIService(self.config)
        # uvloop: clients poll this fake, and on the stdlib loop each answer can wait ~40 ms
        server = BackgroundServer(create_app(self.service), host=host, port=port, name="fake-assemblyai",
                                  loop_factory=uvloop_if_installed)
        super().__init__(server, lock=self.service.lock)  # the service counts config fields down under it

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"authorization": self.api_key}  # the raw key, no "Bearer"

    def stats(self) -> dict[str, Any]:
        """``uploads``, ``transcripts_created``, ``requests`` (by route), ``created_bodies``, ``created_ids``."""
        return self.service.stats()
