"""Which day a run covers, and the settings every task of the run derives alike."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from callmine.pipeline import call_date_for_run, settings_for_run, settings_from_params
from callmine.recordings import RunSettings

PARAMS = {
    "source_uri": "data/recordings", "warehouse_uri": "data/warehouse", "provider": "pyai",
    "trackers": "include/trackers/default.yaml", "speakers": 2, "reprocess": False, "language": None,
}


def test_the_run_with_logical_date_d_covers_day_d():
    logical = datetime(2026, 11, 20, tzinfo=timezone.utc)
    interval_start = datetime(2026, 11, 19, tzinfo=timezone.utc)  # as `airflow dags test` infers it
    assert call_date_for_run(logical, interval_start) == date(2026, 11, 20)


def test_a_run_without_logical_date_falls_back_to_its_interval_start():
    assert call_date_for_run(None, datetime(2026, 11, 20, tzinfo=timezone.utc)) == date(2026, 11, 20)


def test_a_run_with_no_dates_at_all_is_a_clear_error():
    with pytest.raises(ValueError, match="which day"):
        call_date_for_run(None, None)


def test_unknown_provider_is_rejected_with_the_available_ones():
    with pytest.raises(ValueError, match="available: pyai"):
        settings_from_params({**PARAMS, "provider": "nope"}, date(2026, 11, 20), "manual__x")


def test_language_and_speakers_reach_the_settings():
    settings = settings_from_params({**PARAMS, "language": "en", "speakers": 3}, date(2026, 11, 20), "r")
    assert (settings.language, settings.speakers) == ("en", 3)


def test_every_task_of_a_run_derives_the_same_settings():
    context = {"params": PARAMS, "run_id": "scheduled__2026-11-20T00:00:00+00:00",
               "logical_date": datetime(2026, 11, 20, tzinfo=timezone.utc)}
    first, second = settings_for_run(context), settings_for_run(dict(context))
    assert first == second
    assert RunSettings.from_dict(first.to_dict()) == first
    assert first.run_key == "2026-11-20__scheduled__2026-11-20T00_00_00_00_00"
