"""Webhooks, introspection, the process mode and scale of the fake PyAI jobs API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_pyai import FakePyAIServer, SIGNATURE_HEADER
from tests.fake_pyai.__main__ import build_parser, config_from_args
from tests.unit.fake_service.helpers import (
    FAST,
    JOBS,
    LoopbackHTTP,
    NO_AUTH,
    eventually,
    make_wav,
    transcribe,
    upload,
    wait_done,
)


# --- webhooks ----------------------------------------------------------------------


def test_webhook_is_posted_when_the_job_finishes_with_a_valid_signature(
    fake: FakePyAIServer, client: httpx.Client, loopback: LoopbackHTTP
) -> None:
    fake.configure(webhook_secret="whsec_test")
    job_id = upload(client, webhook_url=loopback.url + "/hooks/pyai").json()["job_id"]
    path, headers, body = loopback.posts.get(timeout=5)  # arrives without any polling
    assert path == "/hooks/pyai"
    assert json.loads(body) == {"job_id": job_id, "status": "completed"}
    expected = hmac.new(b"whsec_test", body, hashlib.sha256).hexdigest()
    signature = {k.lower(): v for k, v in headers.items()}[SIGNATURE_HEADER.lower()]
    assert hmac.compare_digest(signature, expected)
    eventually(lambda: fake.stats()["webhooks_sent"] == 1)  # counted once the receiver answered


def test_failed_jobs_are_announced_by_webhook_too(client: httpx.Client, loopback: LoopbackHTTP) -> None:
    job_id = upload(client, b"not audio", webhook_url=loopback.url + "/hooks/pyai").json()["job_id"]
    _, _, body = loopback.posts.get(timeout=5)
    assert json.loads(body) == {"job_id": job_id, "status": "failed"}


def test_unreachable_webhook_is_ignored(fake: FakePyAIServer, client: httpx.Client) -> None:
    job_id = upload(client, webhook_url="http://127.0.0.1:9/nothing-listens").json()["job_id"]
    assert wait_done(client, job_id).json()["status"] == "completed"
    eventually(lambda: fake.stats()["webhooks_failed"] == 1)


# --- introspection, process, scale -------------------------------------------------


def test_stats_count_jobs_by_status_and_reset_clears_them(fake: FakePyAIServer, client: httpx.Client) -> None:
    transcribe(client)
    transcribe(client, b"nope")
    stats = NO_AUTH.get(fake.base_url + "/_fake/stats").json()  # no auth needed
    assert stats["jobs_created"] == 2
    assert stats["by_status"]["completed"] == 1 and stats["by_status"]["failed"] == 1
    assert NO_AUTH.post(fake.base_url + "/_fake/reset").status_code == 204
    assert fake.stats()["jobs_created"] == 0 and client.get(JOBS).json()["data"] == []


def test_configure_changes_the_running_server_and_reset_restores_it(fake: FakePyAIServer) -> None:
    fake.configure(latency_s=9.0)
    assert fake.config.latency_s == 9.0
    with pytest.raises(TypeError):
        fake.configure(no_such_knob=1)
    fake.reset()
    assert fake.config.latency_s == FAST


def test_cli_flags_map_onto_the_config() -> None:
    args = build_parser().parse_args(
        ["--latency", "20", "--allow-http-audio", "--open", "--offload-over-bytes", "none", "--rps", "off"]
    )
    config = config_from_args(args)
    assert config.latency_s == 20 and config.allow_http_audio and config.open_mode
    assert config.offload_over_bytes is None and config.requests_per_second is None


def test_runs_as_a_process_and_announces_both_urls() -> None:
    root = Path(__file__).resolve().parents[3]
    cmd = [sys.executable, "-m", "tests.fake_pyai", "--port", "0", "--result-port", "0", "--api-key", "k1"]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"fake pyai listening on (http://127\.0\.0\.1:\d+) \(results on http://localhost:\d+\)\n", line)
        assert match, line
        assert NO_AUTH.get(match.group(1) + "/v1/me", headers={"x-api-key": "k1"}).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_sustains_hundreds_of_concurrent_jobs_from_an_async_client(fake: FakePyAIServer) -> None:
    fake.configure(latency_s=0.2)
    audio = make_wav(2)

    async def run(server: FakePyAIServer) -> list[str]:
        # Bounded in-flight requests and a small pool: httpcore's pool does
        # O(queued x connections) work per event, which would dominate otherwise.
        in_flight = asyncio.Semaphore(10)
        limits = httpx.Limits(max_connections=10)
        async with httpx.AsyncClient(base_url=server.base_url, headers=server.auth_headers, limits=limits) as c:

            async def call(method: str, url: str, **kwargs: Any) -> dict[str, Any]:
                async with in_flight:
                    return (await c.request(method, url, **kwargs)).json()

            async def one(i: int) -> str:
                files = {"audio": (f"c{i}.wav", audio)}
                job_id = (await call("POST", JOBS, files=files, data={"diarize": "true"}))["job_id"]
                while (status := (await call("GET", f"{JOBS}/{job_id}"))["status"]) in ("queued", "processing"):
                    await asyncio.sleep(0.1)
                return status

            return await asyncio.gather(*(one(i) for i in range(200)))

    assert asyncio.run(run(fake)) == ["completed"] * 200
    assert fake.stats()["by_status"]["completed"] == 200
