"""Shared fixtures and helpers of the hostile-input tests (discovery and provider answers)."""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import fsspec
import httpx
import pytest
from airflow.sdk.exceptions import TaskDeferred

from callmine import discovery
from callmine.discovery import find_recordings
from callmine.errors import ProviderError
from callmine.hooks.pyai import PyAIEndpoint, PyAIHook, RefusedURLError, UnusableAnswerError
from callmine.operators.stage import StageBatchOperator
from callmine.operators.submit import SubmitBatchOperator
from callmine.probe import probe_audio
from callmine.providers.base import AudioSource, JobRequest, Rejected
from callmine.providers.pyai import PyAIProvider
from callmine.providers.pyai_result import normalize_pyai_result
from callmine.recordings import Recording, RunSettings, make_batches, make_call_id
from callmine.retry import Backoff
from callmine.sensors.transcription import TranscriptionJobsSensor
from callmine.transcript import Diarization, TranscriptError
from callmine.warehouse import Warehouse
from tests.audio import write_truncated_wav, write_wav
from tests.fake_pyai import FakeConfig, FakePyAIServer

DAY = date(2026, 11, 20)
CONN_ID = "pyai_hostile_test"
FAST = Backoff(base_s=0.01, cap_s=0.05)


def day_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings" / f"{DAY:%Y/%m/%d}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def discover(tmp_path: Path, **kwargs) -> discovery.Discovery:
    return find_recordings(str(tmp_path / "recordings"), DAY, **kwargs)


def by_name(found: discovery.Discovery) -> dict[str, Recording]:
    return {r.filename: r for r in found.recordings}


# -- driving a batch through submit, wait and stage against the fake service ------------------


class StateStore(dict):
    """The task state store's get/set surface (stored as JSON, like Airflow's)."""

    def set(self, key, value, **_):
        self[key] = json.loads(json.dumps(value))


@pytest.fixture
def fake(monkeypatch):
    with FakePyAIServer(FakeConfig(latency_s=0.2)) as server:
        conn = {"conn_type": "http", "host": server.base_url, "password": server.api_key}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        yield server


def settings_for(tmp_path: Path) -> RunSettings:
    return RunSettings(call_date=DAY.isoformat(), run_id="manual__hostile", source_uri=str(tmp_path / "recordings"),
                       warehouse_uri=str(tmp_path / "warehouse"), conn_id=CONN_ID, insights="off")


def submit(tmp_path: Path, **discover_kwargs) -> dict:
    settings = settings_for(tmp_path)
    [batch] = make_batches(find_recordings(settings.source_uri, DAY, **discover_kwargs).recordings, settings, 50)
    # Through JSON, as XCom carries it: hostile names must survive that too.
    batch_xcom = json.loads(json.dumps(batch.to_dict()))
    return SubmitBatchOperator(task_id="submit", batch=batch_xcom).execute({"task_state_store": StateStore()})


def wait(submission: dict) -> dict:
    """The sensor deferred, then resumed with its trigger's event, as the triggerer would."""
    sensor = TranscriptionJobsSensor(task_id="wait", submission=submission, poll_interval_s=0.05)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})

    async def first_event():
        async for event in deferred.value.trigger.run():
            return event.payload

    return sensor.execute_complete({}, asyncio.run(first_event()))


def stage(tmp_path: Path, wait_result: dict) -> dict[str, tuple[str, str | None]]:
    """Stage the batch; each recording's (status, error) by file name."""
    StageBatchOperator(task_id="stage", wait_result=wait_result).execute({})
    settings = settings_for(tmp_path)
    calls = Warehouse(settings.warehouse_uri).staged_tables(settings.run_key)["calls"].to_pylist()
    return {c["source_uri"].rsplit("/", 1)[-1]: (c["status"], c["error"]) for c in calls}


class HostileTransport(httpx.AsyncBaseTransport):
    """The real fake service, except for requests a rule answers (a proxy page, a forged result)."""

    def __init__(self, rules: list[tuple[Callable[[httpx.Request], bool], Callable[[httpx.Request], httpx.Response]]]):
        self.inner = httpx.AsyncHTTPTransport()
        self.rules = rules

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for matches, answer in self.rules:
            if matches(request):
                return answer(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def serve_hostile(monkeypatch, *rules) -> None:
    """Every async PyAI client (trigger polls, stage fetches) goes through the hostile transport."""
    monkeypatch.setattr(PyAIHook, "async_client",
                        lambda self: httpx.AsyncClient(transport=HostileTransport(list(rules)), timeout=self.timeout))


def get_of_job(job_id: str) -> Callable[[httpx.Request], bool]:
    return lambda request: request.method == "GET" and request.url.path.endswith(f"/jobs/{job_id}")


def html_page(_: httpx.Request | None = None) -> httpx.Response:
    """What a misbehaving proxy answers in the service's place: 200 and an HTML page."""
    return httpx.Response(200, text="<html><body>502 Bad Gateway</body></html>", headers={"content-type": "text/html"})


def job_of(submission: dict, name: str) -> str:
    batch = submission["batch"]
    call_id = next(r["call_id"] for r in batch["recordings"] if r["source_uri"].endswith("/" + name))
    return submission["jobs"][call_id]


