"""One fake PyAI server per test module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fake_pyai import FakeConfig, FakePyAIServer
from tests.unit.fake_service.helpers import FAST, LoopbackHTTP



@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakePyAIServer]:
    config = FakeConfig(latency_s=FAST, slow_latency_s=0.4, requests_per_second=None, allow_http_audio=True)
    with FakePyAIServer(config) as server:
        yield server


@pytest.fixture
def fake(shared_fake: FakePyAIServer) -> FakePyAIServer:
    """One server for the module, clean for every test (no jobs, zero counters, base config)."""
    shared_fake.reset()
    return shared_fake


@pytest.fixture(scope="module")
def shared_client(shared_fake: FakePyAIServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_fake.base_url, headers=shared_fake.auth_headers, timeout=10, verify=False) as c:
        yield c


@pytest.fixture
def client(fake: FakePyAIServer, shared_client: httpx.Client) -> httpx.Client:
    """Authenticated with the default key, against the freshly reset fake."""
    return shared_client


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackHTTP]:
    server = LoopbackHTTP()
    yield server
    server.close()


