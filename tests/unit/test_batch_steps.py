"""A batch's steps against the fake PyAI service: submit, wait (deferrable sensor), stage."""

from __future__ import annotations

import asyncio
import json
from datetime import date

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from callmine.discovery import find_recordings
from callmine.operators.stage import StageBatchOperator
from callmine.operators.submit import STATE_KEY, SubmitBatchOperator
from callmine.recordings import RunSettings, make_batches
from callmine.sensors.transcription import TranscriptionJobsSensor
from callmine.warehouse import Warehouse
from tests.audio import write_wav
from tests.fake_pyai import FakeConfig, FakePyAIServer

DAY = date(2026, 11, 20)
CONN_ID = "pyai_steps_test"


class StateStore(dict):
    """The task state store's get/set surface, as Airflow 3.3 offers it in the context."""

    def set(self, key, value, **_):
        self[key] = json.loads(json.dumps(value))  # stored as JSON, like the real one


@pytest.fixture
def archive(tmp_path):
    day = tmp_path / "recordings" / "2026/11/20"
    write_wav(day / "stereo.wav", seconds=8, channels=2)
    write_wav(day / "mono.wav", seconds=6, channels=1, seed=3)
    write_wav(day / "cancel-me.wav", seconds=4, channels=1, seed=4)  # the fake cancels this job
    (day / "broken.wav").write_bytes(b"RIFF-broken" * 30)
    return tmp_path


def connect(monkeypatch, server, key=None):
    conn = {"conn_type": "http", "host": server.base_url, "password": key or server.api_key}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


@pytest.fixture
def fake(monkeypatch):
    with FakePyAIServer(FakeConfig(latency_s=0.2)) as server:
        connect(monkeypatch, server)
        yield server


def batch_of(archive):
    settings = RunSettings(
        call_date=DAY.isoformat(), run_id="manual__test", source_uri=str(archive / "recordings"),
        warehouse_uri=str(archive / "warehouse"), conn_id=CONN_ID,
    )
    [batch] = make_batches(find_recordings(settings.source_uri, DAY).recordings, settings, batch_size=10)
    return batch, settings


def submit(archive, store=None) -> dict:
    batch, _ = batch_of(archive)
    return SubmitBatchOperator(task_id="submit", batch=batch.to_dict()).execute({"task_state_store": store})


def wait(submission, **kwargs) -> dict:
    """The sensor, deferred, then resumed with its trigger's event, as the triggerer would."""
    sensor = TranscriptionJobsSensor(task_id="wait", submission=submission, poll_interval_s=0.05, **kwargs)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    return sensor.execute_complete({}, run_trigger(deferred.value.trigger))


def run_trigger(trigger) -> dict:
    async def first_event():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first_event())


def staged_calls(settings) -> dict[str, tuple[str, str | None]]:
    calls = Warehouse(settings.warehouse_uri).staged_tables(settings.run_key)["calls"].to_pylist()
    return {c["source_uri"].rsplit("/", 1)[-1]: (c["status"], c["error"]) for c in calls}


def test_a_batch_is_submitted_waited_for_and_staged_with_every_recordings_outcome(archive, fake):
    _, settings = batch_of(archive)
    result = StageBatchOperator(task_id="stage", wait_result=wait(submit(archive, StateStore()))).execute({})
    assert result["staged"] == {"completed": 2, "failed": 2, "pending": 0}
    outcomes = staged_calls(settings)
    assert outcomes["stereo.wav"] == ("completed", None) and outcomes["mono.wav"] == ("completed", None)
    assert outcomes["broken.wav"][0] == "failed" and "unreadable audio" in outcomes["broken.wav"][1]
    assert outcomes["cancel-me.wav"][0] == "failed" and "cancelled" in outcomes["cancel-me.wav"][1]


def test_unreadable_recordings_are_never_submitted(archive, fake):
    submission = submit(archive, StateStore())
    assert len(submission["jobs"]) == 3 and fake.stats()["jobs_created"] == 3


def test_a_retried_submit_never_submits_a_recorded_job_again(archive, fake):
    store = StateStore()
    first = submit(archive, store)
    requests = fake.stats()["jobs_created"] + fake.stats()["idempotent_replays"]
    again = submit(archive, store)  # the retry: same state store
    assert again["jobs"] == first["jobs"]
    assert fake.stats()["jobs_created"] + fake.stats()["idempotent_replays"] == requests


def test_each_job_id_is_recorded_the_moment_it_exists(archive, fake):
    store = StateStore()
    submit(archive, store)
    assert len(store[STATE_KEY]["jobs"]) == 3


def test_a_retried_wait_re_polls_the_same_jobs_and_submits_nothing(archive, fake):
    submission = submit(archive, StateStore())
    created = fake.stats()["jobs_created"]
    sensor = TranscriptionJobsSensor(task_id="wait", submission=submission, poll_interval_s=0.05)
    for _ in range(2):  # the first try and its retry
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute({})
        assert sorted(deferred.value.trigger.job_ids) == sorted(submission["jobs"].values())
    assert fake.stats()["jobs_created"] == created


def test_trigger_arguments_hold_only_ids_and_the_deadline(archive, fake):
    sensor = TranscriptionJobsSensor(task_id="wait", submission=submit(archive, StateStore()))
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    _, kwargs = deferred.value.trigger.serialize()
    assert set(kwargs) == {"provider", "conn_id", "job_ids", "batch_id", "deadline", "poll_interval_s",
                           "max_poll_interval_s", "max_concurrency", "first_poll_delay_s"}


def test_a_cleared_run_replays_idempotently_without_new_jobs(archive, fake):
    wait(submit(archive, StateStore()))
    submission = submit(archive, StateStore())  # a cleared task: fresh state, same idempotency keys
    assert len(submission["jobs"]) == 3
    assert fake.stats()["jobs_created"] == 3 and fake.stats()["idempotent_replays"] == 3


def test_a_wait_that_times_out_fails_so_its_retry_polls_again(archive, fake):
    sensor = TranscriptionJobsSensor(task_id="wait", submission=submit(archive, StateStore()))
    with pytest.raises(AirflowException, match="unfinished"):
        sensor.execute_complete({}, {"status": "timeout", "jobs": {}, "pending": ["job_1"],
                                     "message": "batch 2026-11-20/b000: 1 job(s) still unfinished"})


def test_a_new_recording_in_a_cleared_batch_is_submitted_and_the_others_are_not(archive, fake):
    store = StateStore()
    submit(archive, store)
    write_wav(archive / "recordings/2026/11/20/late.wav", seconds=5, channels=2, seed=9)
    submission = submit(archive, store)
    assert len(submission["jobs"]) == 4 and fake.stats()["jobs_created"] == 4


def test_a_rejected_key_fails_the_batch_at_once_with_a_clear_message(archive, monkeypatch):
    with FakePyAIServer(FakeConfig(latency_s=0.2)) as server:
        connect(monkeypatch, server, key="pyai_live_revoked_key_0001")
        with pytest.raises(AirflowFailException) as failure:
            submit(archive, StateStore())
        requests = server.stats()
    message = str(failure.value)
    assert "401" in message and CONN_ID in message and "revoked_key" not in message
    assert requests["jobs_created"] == 0


def test_without_deferral_the_sensor_pokes_until_every_job_is_done(archive, fake):
    sensor = TranscriptionJobsSensor(task_id="wait", submission=submit(archive, StateStore()), deferrable=False)
    for _ in range(100):
        poked = sensor.poke({})
        if poked.is_done:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert poked.is_done and len(poked.xcom_value["jobs"]) == 3


def test_the_submit_operator_can_wait_for_completion_itself(archive, fake):
    batch, _ = batch_of(archive)
    store = StateStore()
    op = SubmitBatchOperator(task_id="submit", batch=batch.to_dict(), wait_for_completion=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"task_state_store": store})
    result = op.execute_complete({"task_state_store": store}, run_trigger(deferred.value.trigger))
    assert {s["status"] for s in result["jobs"].values()} == {"completed", "cancelled"}
