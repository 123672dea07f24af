"""The batch trigger: one poll loop over many jobs, exactly one terminal event."""

from __future__ import annotations

import asyncio
import importlib
import json
import time

import pytest

from callmine.providers.base import AudioSource, JobRequest
from callmine.providers.pyai import PyAIProvider
from callmine.transcript import Diarization
from callmine.triggers.transcription import TranscriptionJobsTrigger
from tests.audio import write_wav
from tests.fake_pyai import FakeConfig, FakePyAIServer

CONN_ID = "pyai_trigger_test"


@pytest.fixture
def wav(tmp_path):
    return write_wav(tmp_path / "call.wav", seconds=3.0).read_bytes()


def connect(monkeypatch, fake, key=None):
    conn = {"conn_type": "http", "host": fake.base_url, "password": key or fake.api_key}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


def submit(fake, wav, n, name="call.wav"):
    provider = PyAIProvider(CONN_ID)
    return [
        provider.submit(JobRequest(f"c{i}", Diarization.MODEL, 2, f"key-{name}-{i}"), AudioSource(name, content=wav)).job_id
        for i in range(n)
    ]


def trigger(job_ids, deadline_s=30.0, **kwargs):
    return TranscriptionJobsTrigger(
        provider="pyai", conn_id=CONN_ID, job_ids=job_ids, batch_id="2026-11-20/b000",
        deadline=time.time() + deadline_s, poll_interval_s=0.05, max_poll_interval_s=0.2, **kwargs,
    )


def events(trig):
    async def collect():
        return [event.payload async for event in trig.run()]

    return asyncio.run(collect())


def test_one_success_event_once_every_job_is_terminal(monkeypatch, wav):
    with FakePyAIServer(FakeConfig(latency_s=0.3)) as fake:
        connect(monkeypatch, fake)
        job_ids = submit(fake, wav, 5)
        [event] = events(trigger(job_ids))
    assert event["status"] == "success"
    assert event["pending"] == []
    assert {j: s["status"] for j, s in event["jobs"].items()} == dict.fromkeys(job_ids, "completed")


def test_failed_jobs_are_terminal_with_their_error(monkeypatch):
    with FakePyAIServer(FakeConfig(latency_s=0.1)) as fake:
        connect(monkeypatch, fake)
        [job_id] = submit(fake, b"RIFF-garbage" * 40, 1)
        [event] = events(trigger([job_id]))
    assert event["status"] == "success"
    assert event["jobs"][job_id]["status"] == "failed"
    assert event["jobs"][job_id]["error"]


def test_deadline_yields_a_timeout_event_naming_the_pending_jobs(monkeypatch, wav):
    with FakePyAIServer(FakeConfig(latency_s=0.05, slow_latency_s=60)) as fake:
        connect(monkeypatch, fake)
        fast = submit(fake, wav, 1)
        slow = submit(fake, wav, 1, name="slow-call.wav")
        [event] = events(trigger(fast + slow, deadline_s=1.0))
    assert event["status"] == "timeout"
    assert event["pending"] == slow
    assert list(event["jobs"]) == fast
    assert slow[0] in event["message"]


def test_rate_limits_and_server_errors_while_polling_only_delay_the_event(monkeypatch, wav):
    config = FakeConfig(latency_s=0.2, requests_per_second=20, burst=3, fail_every_n_get=4)
    with FakePyAIServer(config) as fake:
        connect(monkeypatch, fake)
        job_ids = submit(fake, wav, 6)
        [event] = events(trigger(job_ids))
        stats = fake.stats()
    assert event["status"] == "success" and len(event["jobs"]) == 6
    assert stats["rate_limited"] + stats["server_errors_injected"] > 0


def test_a_revoked_key_ends_the_wait_with_an_error_event(monkeypatch, wav):
    with FakePyAIServer(FakeConfig(latency_s=0.2)) as fake:
        connect(monkeypatch, fake)
        job_ids = submit(fake, wav, 2)
        connect(monkeypatch, fake, key="pyai_test_revoked")
        [event] = events(trigger(job_ids))
    assert event["status"] == "error"
    assert "401" in event["message"]
    assert "pyai_test_revoked" not in json.dumps(event)


def test_unknown_jobs_count_as_failed_not_as_pending(monkeypatch):
    with FakePyAIServer(FakeConfig()) as fake:
        connect(monkeypatch, fake)
        [event] = events(trigger(["job_does_not_exist"]))
    assert event["jobs"]["job_does_not_exist"]["status"] == "failed"


def test_serialized_trigger_is_rebuilt_by_classpath_as_the_triggerer_does():
    original = trigger(["job_a", "job_b"])
    classpath, kwargs = original.serialize()
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert "password" not in json.dumps(kwargs) and "api_key" not in json.dumps(kwargs)
