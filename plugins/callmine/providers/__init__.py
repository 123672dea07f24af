"""Speech providers by name. Each one normalizes into ``callmine.transcript.Transcript``."""

from __future__ import annotations

from callmine.providers.base import SpeechProvider


def get_provider(name: str, conn_id: str | None = None) -> SpeechProvider:
    if name == "pyai":
        from callmine.providers.pyai import PyAIProvider

        return PyAIProvider(conn_id)
    raise ValueError(f"unknown speech provider {name!r}; available: {', '.join(AVAILABLE)}")


AVAILABLE = ("pyai",)
