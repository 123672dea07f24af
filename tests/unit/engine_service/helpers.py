"""Helpers for the engine service specification tests: in-thread servers, audio, polling."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from include.engine.app import create_app
from include.engine.config import EngineConfig
from tests import http_helpers as shared
from tests.http_helpers import JOBS, PROBLEM, make_wav
from tests.http_helpers import LoopbackHTTP as Loopback

__all__ = [
    "API_KEY", "JOBS", "NO_AUTH", "PROBLEM", "PROCESSOR", "ROOT", "EngineServer", "Loopback", "engine_config",
    "engine_process", "free_port", "make_wav", "upload", "wait_done", "wait_status", "write_wav",
]

ROOT = Path(__file__).resolve().parents[3]
PROCESSOR = "tests.unit.engine_service.processors:transcribe"
API_KEY = "cm_test_key_0123456789"
NO_AUTH = httpx.Client(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_wav(path: Path, seconds: float = 1.0, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_wav(seconds, **kwargs))
    return path


def engine_config(data_dir: Path, **overrides: Any) -> EngineConfig:
    """A keyed test engine. file:// may read the folder holding the data dir (the pytest temp folder:
    tests' audio_dir) and the sample calls; audio_url/webhooks may reach the loopback test servers;
    requests may pick tiny.en or base. The security tests (test_security_*.py) override these."""
    base = EngineConfig(
        host="127.0.0.1", port=free_port(), data_dir=data_dir, api_keys=(API_KEY,), workers=2,
        processor=PROCESSOR, max_upload_mb=0.1, offload_over_bytes=4096, webhook_secret="whsec_test",
        file_roots=(data_dir.parent, ROOT / "include" / "samples"), allow_private_urls=True,
        allowed_models=("tiny.en", "base"),
    )
    return replace(base, **overrides)


class EngineServer:
    """The engine app under uvicorn in a background thread (real HTTP, real worker processes)."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.base_url = f"http://127.0.0.1:{config.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=config.port,
                                                    access_log=False, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> EngineServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("engine did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def client(self, api_key: str | None = API_KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10)


def upload(client: httpx.Client, audio: bytes | None = None, *args: Any, **kwargs: Any) -> httpx.Response:
    return shared.upload(client, make_wav() if audio is None else audio, *args, **kwargs)


def wait_done(client: httpx.Client, job_id: str, timeout_s: float = 20.0) -> httpx.Response:
    return shared.wait_done(client, job_id, timeout_s, poll_s=0.05)


def wait_status(client: httpx.Client, job_id: str, status: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get(f"{JOBS}/{job_id}").json()["status"] != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never reached {status}")
        time.sleep(0.05)


@contextmanager
def engine_process(data_dir: Path, port: int, **env_overrides: str) -> Iterator[subprocess.Popen[str]]:
    """`python -m include.engine` as a subprocess; yields once the ready line is printed.

    Open loopback mode unless overridden; file:// may read the folder holding the data dir."""
    env = {**os.environ, "CALLMINE_ENGINE_PROCESSOR": PROCESSOR, "CALLMINE_ENGINE_WORKERS": "1",
           "CALLMINE_ENGINE_API_KEYS": "", "CALLMINE_ENGINE_FILE_ROOTS": str(data_dir.parent), **env_overrides}
    proc = subprocess.Popen(
        [sys.executable, "-m", "include.engine", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "ready" in line, f"no ready line, got {line!r}"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
