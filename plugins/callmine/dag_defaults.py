"""What every callmine DAG shares: a daily data-interval schedule (UTC), retries, tags."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import CronDataIntervalTimetable


def daily_dag(**overrides: Any) -> dict[str, Any]:
    """``@dag`` arguments: the run with logical date D processes day D; backfillable; 4 days at once."""
    return {
        "schedule": CronDataIntervalTimetable("@daily", timezone="UTC"),
        "start_date": datetime(2020, 1, 1, tzinfo=timezone.utc),
        "catchup": False,
        "max_active_runs": 4,
        "default_args": {"retries": 2, "retry_delay": timedelta(seconds=20)},
        "tags": ["callmine"],
        **overrides,
    }
