"""Helpers for the fake PyAI service's specification tests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests import http_helpers as shared
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
from tests.http_helpers import JOBS, PROBLEM, LoopbackHTTP  # noqa: F401  (re-exported for the tests)

FAST = 0.05  # job latency for tests

# Plain http only, so skip TLS setup: building a verifying httpx.Client costs ~40 ms.
NO_AUTH = httpx.Client(timeout=10, verify=False)  # no API key: what signed URLs must be fetched with


# --- helpers -----------------------------------------------------------------------


def make_wav(seconds: float = 3.0, channels: int = 1, seed: int = 0, rate: int = 8_000) -> bytes:
    return shared.make_wav(seconds, channels, seed, rate)


def upload(client: httpx.Client, audio: bytes | None = None, *args: Any, **kwargs: Any) -> httpx.Response:
    return shared.upload(client, make_wav() if audio is None else audio, *args, **kwargs)


def wait_done(client: httpx.Client, job_id: str, timeout_s: float = 5.0) -> httpx.Response:
    return shared.wait_done(client, job_id, timeout_s, poll_s=0.02)


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


def client_for(server: FakePyAIServer, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else server.auth_headers
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=10, verify=False)


