"""Speech providers by name (the DAG param ``provider``); each normalizes into a validated ``Transcript``.

| name | service | kind | Airflow connection |
|---|---|---|---|
| ``pyai`` | PyAI Hear async jobs (or callmine's embedded engine) | jobs | ``pyai_default`` |
| ``assemblyai`` | AssemblyAI v2 | jobs | ``assemblyai_default`` |
| ``callmissed`` | CallMissed call analytics (synchronous) | request | ``callmissed_default`` |
| ``openai`` | any OpenAI-compatible ``/v1/audio/transcriptions`` | request | ``openai_audio_default`` |
"""

from __future__ import annotations

from importlib import import_module

from callmine.providers.base import JobsProvider, RequestProvider

_CLASSES = {
    "pyai": "callmine.providers.pyai:PyAIProvider",
    "assemblyai": "callmine.providers.assemblyai:AssemblyAIProvider",
    "callmissed": "callmine.providers.callmissed:CallMissedProvider",
    "openai": "callmine.providers.openai_audio:OpenAIAudioProvider",
}
AVAILABLE = tuple(_CLASSES)


def get_provider(name: str, conn_id: str | None = None) -> JobsProvider | RequestProvider:
    try:
        module, cls = _CLASSES[name].split(":")
    except KeyError:
        raise ValueError(f"unknown speech provider {name!r}; available: {', '.join(AVAILABLE)}") from None
    return getattr(import_module(module), cls)(conn_id)


def default_conn_id(name: str) -> str:
    return {"pyai": "pyai_default", "assemblyai": "assemblyai_default", "callmissed": "callmissed_default",
            "openai": "openai_audio_default"}[name]
