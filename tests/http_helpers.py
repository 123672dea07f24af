"""HTTP test helpers shared by the engine and fake PyAI service tests: WAV bytes, job
submission and polling, and a loopback HTTP server (audio_url files, webhook receiver)."""

from __future__ import annotations

import functools
import io
import queue
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np

JOBS = "/v1/transcription/jobs"
PROBLEM = "application/problem+json"


@functools.lru_cache(maxsize=64)
def make_wav(seconds: float = 1.0, channels: int = 1, seed: int = 0, rate: int = 8_000) -> bytes:
    """A tone per channel; the seed shifts the pitch so different seeds mean different bytes."""
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


def upload(
    client: httpx.Client,
    audio: bytes,
    filename: str = "call.wav",
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    """Multipart submit; booleans are sent as the 'true'/'false' form fields the dialect wants."""
    data = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in fields.items()}
    files = {"audio": (filename, audio, "audio/wav")}
    return client.post(JOBS, files=files, data=data, headers=headers)


def wait_done(client: httpx.Client, job_id: str, timeout_s: float, poll_s: float) -> httpx.Response:
    """Poll the job until it is terminal; AssertionError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"{JOBS}/{job_id}")
        assert response.status_code == 200, response.text
        if response.json()["status"] in ("completed", "failed", "cancelled"):
            return response
        assert time.monotonic() < deadline, f"job {job_id} still {response.json()['status']}"
        time.sleep(poll_s)


class LoopbackHTTP:
    """A local HTTP server: serves registered bytes on GET (audio_url) and records POSTs (webhooks)
    as (path, case-insensitive headers, body)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.posts: queue.Queue[tuple[str, httpx.Headers, bytes]] = queue.Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.put((self.path, httpx.Headers(list(self.headers.items())), body))
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
