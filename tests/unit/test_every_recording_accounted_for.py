"""Every recording a run discovers ends in `calls` as completed or failed with a reason."""

from __future__ import annotations

import json
from datetime import date

import pyarrow as pa
import pytest
from airflow.sdk.exceptions import AirflowFailException

from callmine.discovery import find_recordings
from callmine.operators.submit import SubmitBatchOperator
from callmine.pipeline import judge_run, load_day, plan_day
from callmine.recordings import Batch, RunSettings, make_batches
from callmine.warehouse import Warehouse
from tests.audio import write_wav
from tests.fake_pyai import FakeConfig, FakePyAIServer

DAY = date(2026, 11, 20)
CONN_ID = "pyai_accounting_test"


def settings(tmp_path, day: date = DAY, run_id: str = "manual__1") -> RunSettings:
    return RunSettings(call_date=day.isoformat(), run_id=run_id, source_uri=str(tmp_path / "in"),
                       warehouse_uri=str(tmp_path / "wh"), conn_id=CONN_ID, insights="off")


def archive(tmp_path, day: date = DAY, names=("a.wav", "b.wav"), broken=True):
    folder = tmp_path / "in" / f"{day:%Y/%m/%d}"
    for i, name in enumerate(names):
        write_wav(folder / name, seconds=3, channels=2, seed=i)
    if broken:
        (folder / "broken.wav").write_bytes(b"RIFF-broken" * 20)


def calls(tmp_path, day: date = DAY) -> dict[str, tuple]:
    rows = Warehouse(str(tmp_path / "wh")).read_partition("calls", day).to_pylist()
    return {r["source_uri"].rsplit("/", 1)[-1]: (r["status"], r["retryable"], r["error"]) for r in rows}


def test_a_batch_that_never_staged_is_loaded_as_failed_retryable_calls_with_the_steps_reason(tmp_path, monkeypatch):
    archive(tmp_path)
    s = settings(tmp_path)
    planned = plan_day(s, batch_size=10)
    with FakePyAIServer(FakeConfig()) as fake:  # a key the service refuses: submit fails for good
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}",
                           json.dumps({"conn_type": "http", "host": fake.base_url, "password": "pyai_test_wrong"}))
        with pytest.raises(AirflowFailException):
            SubmitBatchOperator(task_id="submit", batch=planned[0]).execute({})
    summary = load_day(s, planned)
    loaded = calls(tmp_path)
    assert set(loaded) == {"a.wav", "b.wav", "broken.wav"}  # nothing lost
    status, retryable, error = loaded["a.wav"]
    assert (status, retryable) == ("failed", True)
    assert error.startswith("not transcribed: submit of batch 2026-11-20/b000 failed:") and "401" in error
    assert loaded["broken.wav"][:2] == ("failed", False)  # unreadable audio stays not retryable
    assert summary["retryable_failed"] == 2 and summary["failed"] == 3


def test_a_batch_with_no_failure_record_still_accounts_for_its_recordings(tmp_path):
    archive(tmp_path, broken=False)
    s = settings(tmp_path)
    load_day(s, plan_day(s, batch_size=10))  # its tasks died without a trace (e.g. a killed worker)
    assert {k: v[:2] for k, v in calls(tmp_path).items()} == {"a.wav": ("failed", True), "b.wav": ("failed", True)}
    assert "did not finish" in calls(tmp_path)["a.wav"][2]


def test_lookback_picks_up_late_and_retryable_recordings_of_earlier_days(tmp_path):
    yesterday = date(2026, 11, 19)
    archive(tmp_path, yesterday, names=("retry-me.wav", "damaged-before.wav"), broken=False)
    s_before = settings(tmp_path, yesterday, run_id="scheduled__19")
    batch = make_batches(find_recordings(s_before.source_uri, yesterday).recordings, s_before, 10)[0]
    load_day(s_before, [batch.to_dict()])  # yesterday's run: both failed as retryable (no stage)
    # Mark one as a non-retryable failure (e.g. the provider rejected it): it must stay settled.
    wh = Warehouse(str(tmp_path / "wh"))
    table = wh.read_partition("calls", yesterday)
    flags = [not uri.endswith("damaged-before.wav") for uri in table.column("source_uri").to_pylist()]
    wh.replace_calls(yesterday, {"calls": table.set_column(
        table.schema.get_field_index("retryable"), "retryable", pa.array(flags))})
    write_wav(tmp_path / "in/2026/11/19/arrived-late.wav", seconds=3, channels=2, seed=7)
    archive(tmp_path, DAY, names=("today.wav",), broken=False)
    planned = plan_day(settings(tmp_path), batch_size=10, lookback_days=3)
    picked = sorted(r["source_uri"].rsplit("/", 1)[-1] for b in planned for r in b["recordings"])
    assert picked == ["arrived-late.wav", "retry-me.wav", "today.wav"]
    assert {r["call_date"] for b in planned for r in b["recordings"]} == {"2026-11-19", "2026-11-20"}


def test_recordings_from_earlier_days_load_into_their_own_partitions(tmp_path):
    archive(tmp_path, date(2026, 11, 19), names=("late.wav",), broken=False)
    archive(tmp_path, DAY, names=("today.wav",), broken=False)
    s = settings(tmp_path)
    summary = load_day(s, plan_day(s, batch_size=10, lookback_days=1))
    assert set(calls(tmp_path, date(2026, 11, 19))) == {"late.wav"}
    assert set(calls(tmp_path, DAY)) == {"today.wav"}
    assert summary["from_earlier_days"] == 1


def test_any_retryable_failure_fails_the_run_so_alerting_fires():
    summary = {"calls": 10, "failures": [{"source_uri": "s3://x/a.wav", "error": "provider down", "retryable": True}]}
    assert "retryable" in judge_run(summary, max_failed_ratio=0.1)


def test_a_single_damaged_file_does_not_page_anyone_even_on_a_small_day():
    summary = {"calls": 2, "failures": [{"source_uri": "s3://x/bad.wav", "error": "unreadable audio", "retryable": False}]}
    assert judge_run(summary, max_failed_ratio=0.1) is None


def test_too_many_damaged_files_fail_the_run_listing_each_with_its_reason():
    failures = [{"source_uri": f"s3://x/{i}.wav", "error": "unreadable audio", "retryable": False} for i in range(3)]
    verdict = judge_run({"calls": 10, "failures": failures}, max_failed_ratio=0.1)
    assert "3 of 10" in verdict and "s3://x/2.wav: unreadable audio" in verdict


def test_a_run_whose_load_did_not_finish_fails():
    assert "load step did not finish" in judge_run(None, max_failed_ratio=0.1)


def test_batches_of_the_run_are_cut_from_every_day_it_picks_up(tmp_path):
    archive(tmp_path, date(2026, 11, 18), names=("old.wav",), broken=False)
    archive(tmp_path, DAY, names=("today.wav",), broken=False)
    assert len(plan_day(settings(tmp_path), batch_size=10, lookback_days=1)[0]["recordings"]) == 1  # 18th is out
    assert len(plan_day(settings(tmp_path), batch_size=10, lookback_days=2)[0]["recordings"]) == 2


def test_a_batch_dict_round_trips_with_its_recordings_dates():
    s = RunSettings(call_date="2026-11-20", run_id="r", source_uri="/in", warehouse_uri="/wh")
    assert Batch.from_dict(make_batches([], s, 5, ["c1"])[0].to_dict()).reanalyze == ["c1"]
