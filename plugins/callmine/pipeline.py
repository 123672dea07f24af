"""The DAG's plain-Python steps: plan a day, load what the batches staged, report.

Kept out of the DAG file so the DAG stays thin and these are testable without Airflow.
"""

from __future__ import annotations

import logging
import os
from datetime import date, datetime
from typing import Any

from callmine.discovery import find_recordings
from callmine.config import resolve_uri
from callmine.providers import AVAILABLE as PROVIDERS
from callmine.recordings import RunSettings, make_batches
from callmine.warehouse import Warehouse
from callmine.warehouse.catalog import build_catalog

log = logging.getLogger(__name__)


def call_date_for_run(logical_date: datetime | None, data_interval_start: datetime | None) -> date:
    """The run with logical date D covers the calls of day D (UTC)."""
    anchor = logical_date or data_interval_start
    if anchor is None:
        raise ValueError("the run has neither a logical date nor a data interval: cannot tell which day to process")
    return anchor.date()


def settings_from_params(params: dict[str, Any], call_date: date, run_id: str) -> RunSettings:
    provider = params["provider"]
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; available: {', '.join(PROVIDERS)}")
    return RunSettings(
        call_date=call_date.isoformat(),
        run_id=run_id,
        source_uri=params["source_uri"],
        warehouse_uri=params["warehouse_uri"],
        provider=provider,
        conn_id=os.environ.get("CALLMINE_CONN_ID") or None,
        trackers=params["trackers"],
        speakers=int(params["speakers"]),
        reprocess=bool(params["reprocess"]),
        language=params.get("language") or None,
    )


def settings_for_run(context: dict[str, Any]) -> RunSettings:
    """The run's settings from its params and dates; every task derives the same ones."""
    day = call_date_for_run(context.get("logical_date"), context.get("data_interval_start"))
    return settings_from_params(context["params"], day, context["run_id"])


def plan_day(settings: RunSettings, batch_size: int) -> list[dict[str, Any]]:
    """Find the day's recordings not yet loaded as completed, probe them, cut batches."""
    call_date = date.fromisoformat(settings.call_date)
    warehouse = Warehouse(resolve_uri(settings.warehouse_uri))
    skip = set() if settings.reprocess else warehouse.completed_call_ids(call_date)
    found = find_recordings(resolve_uri(settings.source_uri), call_date, skip_call_ids=skip)
    batches = make_batches(found.recordings, settings, batch_size)
    unreadable = sum(1 for r in found.recordings if r.probe_error)
    log.info(
        "call date %s: %d recording(s) to transcribe in %d batch(es) (%d unreadable), %d already loaded, "
        "%d non-audio file(s) ignored, %d recording(s) of other dates",
        settings.call_date, len(found.recordings), len(batches), unreadable, len(found.already_loaded),
        len(found.ignored), found.other_dates,
    )
    return [b.to_dict() for b in batches]


def load_day(settings: RunSettings) -> dict[str, Any]:
    """Merge every staged batch of this run into the day's partitions, then refresh the catalog."""
    warehouse_uri = resolve_uri(settings.warehouse_uri)
    warehouse = Warehouse(warehouse_uri)
    staged = warehouse.staged_tables(settings.run_key)
    calls = staged.get("calls")
    if calls is None or calls.num_rows == 0:
        log.info("call date %s: nothing staged by run %s, tables unchanged", settings.call_date, settings.run_id)
        summary: dict[str, Any] = {"call_date": settings.call_date, "calls": 0}
    else:
        result = warehouse.replace_calls(date.fromisoformat(settings.call_date), staged)
        statuses = calls.column("status").to_pylist()
        summary = {
            "call_date": settings.call_date,
            "calls": calls.num_rows,
            "completed": statuses.count("completed"),
            "failed": statuses.count("failed"),
            "rows": getattr(result, "rows_written", None),
        }
        log.info("call date %s loaded: %s", settings.call_date, summary)
    if "://" not in warehouse_uri or warehouse_uri.startswith("file://"):
        build_catalog(warehouse_uri)
    warehouse.clear_stage(settings.run_key)
    return summary
