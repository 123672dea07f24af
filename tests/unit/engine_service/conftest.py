"""One keyed engine server per module (2 worker processes, test processor) plus a loopback host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.unit.engine_service.helpers import EngineServer, Loopback, engine_config


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineServer]:
    with EngineServer(engine_config(tmp_path_factory.mktemp("engine"))) as server:
        yield server


@pytest.fixture(scope="module")
def client(engine: EngineServer) -> Iterator[httpx.Client]:
    with engine.client() as c:
        yield c


@pytest.fixture(scope="module")
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    yield server
    server.close()


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    return tmp_path
