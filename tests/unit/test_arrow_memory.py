"""The stage and load tasks' Arrow allocator (callmine.arrow_memory)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from callmine.arrow_memory import POOL_ENV, use_system_allocator


@pytest.fixture
def restored_pool() -> Iterator[None]:
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


@pytest.mark.usefixtures("restored_pool")
def test_the_default_pool_becomes_the_system_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POOL_ENV, raising=False)
    pa.set_memory_pool(pa.mimalloc_memory_pool())

    use_system_allocator()

    assert pa.default_memory_pool().backend_name == "system"


@pytest.mark.usefixtures("restored_pool")
def test_an_allocator_chosen_in_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POOL_ENV, "mimalloc")
    pa.set_memory_pool(pa.mimalloc_memory_pool())

    use_system_allocator()

    assert pa.default_memory_pool().backend_name == "mimalloc"
