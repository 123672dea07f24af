"""The batch operator end to end against the fake service: submit, defer, resume, stage."""

from __future__ import annotations

import asyncio
import json
from datetime import date

import pytest
from airflow.sdk.exceptions import TaskDeferred

from callmine.discovery import find_recordings
from callmine.operators.transcribe import TranscribeBatchOperator
from callmine.recordings import RunSettings, make_batches
from callmine.warehouse import Warehouse
from tests.audio import write_wav
from tests.fake_pyai import FakeConfig, FakePyAIServer

DAY = date(2026, 11, 20)
CONN_ID = "pyai_operator_test"


class StateStore(dict):
    """The task state store's get/set surface, as Airflow 3.3 offers it in the context."""

    def set(self, key, value, **_):
        self[key] = value


@pytest.fixture
def archive(tmp_path):
    day = tmp_path / "recordings" / "2026/11/20"
    write_wav(day / "stereo.wav", seconds=8, channels=2)
    write_wav(day / "mono.wav", seconds=6, channels=1, seed=3)
    write_wav(day / "cancel-me.wav", seconds=4, channels=1, seed=4)  # the fake cancels this job
    (day / "broken.wav").write_bytes(b"RIFF-broken" * 30)
    return tmp_path


@pytest.fixture
def fake(monkeypatch):
    with FakePyAIServer(FakeConfig(latency_s=0.2)) as server:
        conn = {"conn_type": "http", "host": server.base_url, "password": server.api_key}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        yield server


def operator_for(archive):
    settings = RunSettings(
        call_date=DAY.isoformat(), run_id="manual__test", source_uri=str(archive / "recordings"),
        warehouse_uri=str(archive / "warehouse"), conn_id=CONN_ID,
    )
    [batch] = make_batches(find_recordings(settings.source_uri, DAY).recordings, settings, batch_size=10)
    op = TranscribeBatchOperator(task_id="transcribe", batch=batch.to_dict(), poll_interval_s=0.05)
    return op, settings


def run_trigger(trigger) -> dict:
    async def first_event():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first_event())


def staged_calls(settings) -> dict[str, tuple[str, str | None]]:
    calls = Warehouse(settings.warehouse_uri).staged_tables(settings.run_key)["calls"].to_pylist()
    return {c["source_uri"].rsplit("/", 1)[-1]: (c["status"], c["error"]) for c in calls}


def test_batch_defers_then_stages_every_recording_with_its_outcome(archive, fake):
    op, settings = operator_for(archive)
    store = StateStore()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"task_state_store": store})
    summary = op.execute_complete({"task_state_store": store}, run_trigger(deferred.value.trigger))
    assert summary == {"batch_id": "2026-11-20/b000", "completed": 2, "failed": 2, "pending": 0}
    outcomes = staged_calls(settings)
    assert outcomes["stereo.wav"] == ("completed", None) and outcomes["mono.wav"] == ("completed", None)
    assert outcomes["broken.wav"][0] == "failed" and "unreadable audio" in outcomes["broken.wav"][1]
    assert outcomes["cancel-me.wav"][0] == "failed" and "cancelled" in outcomes["cancel-me.wav"][1]


def test_unreadable_recordings_are_never_submitted(archive, fake):
    op, _ = operator_for(archive)
    with pytest.raises(TaskDeferred):
        op.execute({"task_state_store": StateStore()})
    assert fake.stats()["jobs_created"] == 3


def test_retried_task_re_polls_without_uploading_again(archive, fake):
    op, _ = operator_for(archive)
    store = StateStore()
    with pytest.raises(TaskDeferred):
        op.execute({"task_state_store": store})
    requests_after_submit = fake.stats()["jobs_created"] + fake.stats()["idempotent_replays"]
    with pytest.raises(TaskDeferred):
        op.execute({"task_state_store": store})  # the retry: same state store
    stats = fake.stats()
    assert stats["jobs_created"] + stats["idempotent_replays"] == requests_after_submit


def test_rerun_without_state_replays_idempotently_and_finishes_without_deferring(archive, fake):
    op, settings = operator_for(archive)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"task_state_store": StateStore()})
    run_trigger(deferred.value.trigger)  # wait until every job is terminal
    summary = op.execute({"task_state_store": StateStore()})  # a cleared task: fresh state
    assert summary["completed"] == 2
    assert fake.stats()["jobs_created"] == 3
    assert fake.stats()["idempotent_replays"] == 3


def test_timeout_event_stages_what_finished_then_fails_for_a_retry(archive, fake):
    op, settings = operator_for(archive)
    store = StateStore()
    with pytest.raises(TaskDeferred):
        op.execute({"task_state_store": store})
    jobs = list(store["callmine_jobs"]["jobs"].values())
    event = {"status": "timeout", "jobs": {}, "pending": jobs, "message": "3 job(s) still unfinished",
             "submission": store["callmine_jobs"]}
    with pytest.raises(TimeoutError, match="unfinished"):
        op.execute_complete({"task_state_store": store}, event)
    # Unfinished recordings get no row (a later run picks them up); the known failure is kept.
    assert staged_calls(settings) == {"broken.wav": ("failed", "unreadable audio: Invalid data found when processing input")}


def test_stored_submission_of_other_recordings_is_not_reused(archive, fake):
    op, settings = operator_for(archive)
    store = StateStore()
    with pytest.raises(TaskDeferred):
        op.execute({"task_state_store": store})
    # A recording arrives late and the run is cleared: the same batch now holds four.
    write_wav(archive / "recordings/2026/11/20/late.wav", seconds=5, channels=2, seed=9)
    op, _ = operator_for(archive)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"task_state_store": store})
    assert len(deferred.value.trigger.job_ids) == 4
    assert fake.stats()["jobs_created"] == 4  # the three known jobs were replays


def test_resumed_task_needs_only_the_event(archive, fake):
    op, settings = operator_for(archive)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"task_state_store": StateStore()})
    event = run_trigger(deferred.value.trigger)
    replays_before = fake.stats()["idempotent_replays"]
    op.execute_complete({}, event)  # no state store, as under `airflow dags test`
    assert fake.stats()["idempotent_replays"] == replays_before
    assert staged_calls(settings)["stereo.wav"] == ("completed", None)
