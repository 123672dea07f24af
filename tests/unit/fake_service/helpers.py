"""Helpers for the fake PyAI service's specification tests."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import io
import json
import queue
import re
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest

from tests.fake_pyai import (
    DEFAULT_API_KEY,
    SCOPE_JOBS,
    SIGNATURE_HEADER,
    FakeConfig,
    FakePyAIServer,
    KeyConfig,
    running_fake_pyai,
)
from tests.fake_pyai.__main__ import build_parser, config_from_args

JOBS = "/v1/transcription/jobs"
PROBLEM = "application/problem+json"
FAST = 0.05  # job latency for tests

# Plain http only, so skip TLS setup: building a verifying httpx.Client costs ~40 ms.
NO_AUTH = httpx.Client(timeout=10, verify=False)  # no API key: what signed URLs must be fetched with


# --- helpers -----------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def make_wav(seconds: float = 3.0, channels: int = 1, seed: int = 0, rate: int = 8_000) -> bytes:
    """A tone per channel; the seed shifts the pitch so different seeds mean different bytes."""
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    tones = [np.sin(2 * np.pi * (220 + 110 * ch + seed) * t) * 0.3 for ch in range(channels)]
    samples = (np.stack(tones, axis=1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def upload(
    client: httpx.Client,
    audio: bytes | None = None,
    filename: str = "call.wav",
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    data = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in fields.items()}
    files = {"audio": (filename, audio if audio is not None else make_wav(), "audio/wav")}
    return client.post(JOBS, files=files, data=data, headers=headers)


def wait_done(client: httpx.Client, job_id: str, timeout_s: float = 5.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"{JOBS}/{job_id}")
        assert response.status_code == 200, response.text
        if response.json()["status"] in ("completed", "failed", "cancelled"):
            return response
        assert time.monotonic() < deadline, f"job {job_id} still {response.json()['status']}"
        time.sleep(0.02)


def transcribe(client: httpx.Client, audio: bytes | None = None, **fields: Any) -> httpx.Response:
    submitted = upload(client, audio, **fields)
    assert submitted.status_code == 202, submitted.text
    return wait_done(client, submitted.json()["job_id"])


def result_of(response: httpx.Response) -> dict[str, Any]:
    job = response.json()
    if job.get("result") is not None:
        return job["result"]
    return NO_AUTH.get(job["result_url"]).json()  # no API key: signed URL


def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def problem_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    body = response.json()
    assert body["status"] == response.status_code and body["title"]
    return body["type"].rsplit("/", 1)[-1]


class LoopbackHTTP:
    """Serves registered bytes on GET (audio_url) and records POSTs (webhooks)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.posts: queue.Queue[tuple[str, dict[str, str], bytes]] = queue.Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.put((self.path, dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()




def client_for(server: FakePyAIServer, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else server.auth_headers
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=10, verify=False)


