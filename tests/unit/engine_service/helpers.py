"""Helpers for the engine service specification tests: in-thread servers, audio, polling."""

from __future__ import annotations

import io
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn

from include.engine.app import create_app
from include.engine.config import EngineConfig

ROOT = Path(__file__).resolve().parents[3]
JOBS = "/v1/transcription/jobs"
PROBLEM = "application/problem+json"
PROCESSOR = "tests.unit.engine_service.processors:transcribe"
API_KEY = "cm_test_key_0123456789"
NO_AUTH = httpx.Client(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_wav(seconds: float = 1.0, channels: int = 1, seed: int = 0, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    tones = [np.sin(2 * np.pi * (220 + 110 * ch + seed) * t) * 0.3 for ch in range(channels)]
    samples = (np.stack(tones, axis=1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buf.getvalue()


def write_wav(path: Path, seconds: float = 1.0, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_wav(seconds, **kwargs))
    return path


def engine_config(data_dir: Path, **overrides: Any) -> EngineConfig:
    base = EngineConfig(
        host="127.0.0.1", port=free_port(), data_dir=data_dir, api_keys=(API_KEY,), workers=2,
        processor=PROCESSOR, max_upload_mb=0.1, offload_over_bytes=4096, webhook_secret="whsec_test",
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


def upload(client: httpx.Client, audio: bytes | None = None, filename: str = "call.wav",
           headers: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
    data = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in fields.items()}
    files = {"audio": (filename, make_wav() if audio is None else audio, "audio/wav")}
    return client.post(JOBS, files=files, data=data, headers=headers)


def wait_done(client: httpx.Client, job_id: str, timeout_s: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"{JOBS}/{job_id}")
        assert response.status_code == 200, response.text
        if response.json()["status"] in ("completed", "failed", "cancelled"):
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {response.json()['status']}")
        time.sleep(0.05)


def wait_status(client: httpx.Client, job_id: str, status: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get(f"{JOBS}/{job_id}").json()["status"] != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never reached {status}")
        time.sleep(0.05)


class Loopback:
    """A local HTTP server: serves files from a dict (GET) and records POSTed webhooks."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.webhooks: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("content-length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                outer.webhooks.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def engine_process(data_dir: Path, port: int, **env_overrides: str) -> Iterator[subprocess.Popen[str]]:
    """`python -m include.engine` as a subprocess; yields once the ready line is printed."""
    env = {**os.environ, "CALLMINE_ENGINE_PROCESSOR": PROCESSOR, "CALLMINE_ENGINE_WORKERS": "1",
           "CALLMINE_ENGINE_API_KEYS": "", **env_overrides}
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
