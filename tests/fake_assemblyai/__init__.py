"""A faithful fake of AssemblyAI's v2 async transcription API, written from the public docs.

Independent of callmine: it imports nothing from ``plugins/callmine`` or ``include/``.
Start it in-process with ``FakeAssemblyAI`` (a context manager exposing ``base_url`` and
``api_key``), or as a process with ``python -m tests.fake_assemblyai``.
"""

from .config import AUTH_ERROR, DEFAULT_API_KEY, FakeAssemblyAIConfig
from .server import FakeAssemblyAI

__all__ = ["AUTH_ERROR", "DEFAULT_API_KEY", "FakeAssemblyAI", "FakeAssemblyAIConfig"]
