"""The test fake of the PyAI jobs API as a process (the engine's starter lives in callmine.local.services)."""

from __future__ import annotations

import sys
from pathlib import Path

from callmine.local.services import ServiceProcess, start_service
from callmine.local.stack import free_port

__all__ = ["ServiceProcess", "start_fake_pyai"]


def start_fake_pyai(log_dir: Path, *flags: str, timeout: float = 30) -> ServiceProcess:
    """The test fake of the PyAI jobs API, open (no key), fetching http audio, on free ports."""
    port, result_port = free_port(), free_port()
    argv = [sys.executable, "-m", "tests.fake_pyai", "--port", str(port), "--result-port", str(result_port),
            "--open", "--allow-http-audio", *flags]
    return start_service("fake-pyai", argv, port, log_dir, "/v1/me", timeout)
