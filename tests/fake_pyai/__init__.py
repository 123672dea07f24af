"""A faithful fake of the PyAI Hear async batch jobs API, for tests, benchmarks and demos.

In-process::

    from tests.fake_pyai import FakeConfig, FakePyAIServer

    with FakePyAIServer(FakeConfig(latency_s=0.1)) as fake:
        fake.base_url, fake.result_base_url, fake.api_key, fake.stats()

As a process: ``python -m tests.fake_pyai --help``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .config import ALL_SCOPES, DEFAULT_API_KEY, SCOPE_JOBS, SCOPE_TRANSCRIBE, FakeConfig, KeyConfig, key_id_for
from .server import FakePyAIServer
from .webhooks import SIGNATURE_HEADER, sign


@contextmanager
def running_fake_pyai(config: FakeConfig | None = None, **server_kwargs: Any) -> Iterator[FakePyAIServer]:
    """Pytest-friendly factory: ``with running_fake_pyai(FakeConfig(...)) as fake: ...``."""
    with FakePyAIServer(config, **server_kwargs) as server:
        yield server


__all__ = [
    "ALL_SCOPES",
    "DEFAULT_API_KEY",
    "SCOPE_JOBS",
    "SCOPE_TRANSCRIBE",
    "SIGNATURE_HEADER",
    "FakeConfig",
    "FakePyAIServer",
    "KeyConfig",
    "key_id_for",
    "running_fake_pyai",
    "sign",
]
