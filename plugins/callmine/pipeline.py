"""The DAG's plain-Python steps: plan a day, load what the batches staged, report.

Kept out of the DAG file so the DAG stays thin and these are testable without Airflow.
"""

from __future__ import annotations

import logging
import os
from datetime import date, datetime
from typing import Any

import pyarrow.compute as pc

from callmine.discovery import find_recordings
from callmine.insights.analyzers import analyzer_identity
from callmine.config import resolve_uri
from callmine.providers import AVAILABLE as PROVIDERS
from callmine.recordings import RunSettings, make_batches
from callmine.warehouse import Warehouse
from callmine.warehouse.catalog import build_catalog

log = logging.getLogger(__name__)
PROVIDER_PROMPT_VERSION = "provider"  # call_insights.prompt_version of insights a speech service made


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
        insights=params.get("insights") or "lexical",
    )


def settings_for_run(context: dict[str, Any]) -> RunSettings:
    """The run's settings from its params and dates; every task derives the same ones."""
    day = call_date_for_run(context.get("logical_date"), context.get("data_interval_start"))
    return settings_from_params(context["params"], day, context["run_id"])


def plan_day(settings: RunSettings, batch_size: int) -> list[dict[str, Any]]:
    """Find the day's recordings not yet loaded as completed, probe them, cut batches.

    Also plans insights catch-up: loaded calls whose insights are missing, failed, or made
    by another analyzer, model or prompt version (they are analyzed, not transcribed).
    """
    call_date = date.fromisoformat(settings.call_date)
    warehouse = Warehouse(resolve_uri(settings.warehouse_uri))
    skip = set() if settings.reprocess else warehouse.completed_call_ids(call_date)
    found = find_recordings(resolve_uri(settings.source_uri), call_date, skip_call_ids=skip)
    reanalyze = sorted(stale_insights(warehouse, call_date, settings.insights, skip))
    batches = make_batches(found.recordings, settings, batch_size, reanalyze)
    unreadable = sum(1 for r in found.recordings if r.probe_error)
    log.info(
        "call date %s: %d recording(s) to transcribe (%d unreadable), %d already loaded, %d of them to analyze "
        "again (insights missing or stale), %d batch(es); %d non-audio file(s) ignored, %d recording(s) of other dates",
        settings.call_date, len(found.recordings), unreadable, len(found.already_loaded), len(reanalyze),
        len(batches), len(found.ignored), found.other_dates,
    )
    return [b.to_dict() for b in batches]


def stale_insights(warehouse: Warehouse, call_date: date, kind: str, completed: set[str]) -> set[str]:
    """Completed calls whose insights row is missing, failed, or not made by this analyzer/model/prompt."""
    identity = analyzer_identity(kind)
    if identity is None or not completed:
        return set()
    rows = warehouse.read_partition(
        "call_insights", call_date, columns=["call_id", "analyzer", "model", "prompt_version", "error"],
    ).to_pylist()
    current = {
        r["call_id"] for r in rows
        if r["error"] is None and (
            (r["analyzer"], r["model"], r["prompt_version"]) == (identity.analyzer, identity.model, identity.prompt_version)
            # The speech service analyzed the call itself (CallMissed): its insights stay.
            or r["prompt_version"] == PROVIDER_PROMPT_VERSION
        )
    }
    return completed - current


def load_day(settings: RunSettings) -> dict[str, Any]:
    """Merge every staged batch of this run into the day's partitions, then refresh the catalog."""
    warehouse_uri = resolve_uri(settings.warehouse_uri)
    warehouse = Warehouse(warehouse_uri)
    staged = warehouse.staged_tables(settings.run_key)
    calls = staged.get("calls")
    call_date = date.fromisoformat(settings.call_date)
    # Insights of calls loaded by an earlier run (catch-up) replace only their insights row.
    insights = staged["call_insights"]
    transcribed = pc.is_in(insights.column("call_id"), value_set=calls.column("call_id").combine_chunks())
    staged["call_insights"] = insights.filter(transcribed)
    caught_up = warehouse.replace_insights(call_date, insights.filter(pc.invert(transcribed)))
    if calls is None or calls.num_rows == 0:
        log.info("call date %s: nothing transcribed by run %s; %d call(s) got new insights",
                 settings.call_date, settings.run_id, caught_up)
        summary: dict[str, Any] = {"call_date": settings.call_date, "calls": 0, "insights_caught_up": caught_up}
    else:
        result = warehouse.replace_calls(call_date, staged)
        statuses = calls.column("status").to_pylist()
        summary = {
            "call_date": settings.call_date,
            "calls": calls.num_rows,
            "completed": statuses.count("completed"),
            "failed": statuses.count("failed"),
            "rows": getattr(result, "rows_written", None),
            "insights_caught_up": caught_up,
        }
        log.info("call date %s loaded: %s", settings.call_date, summary)
    if "://" not in warehouse_uri or warehouse_uri.startswith("file://"):
        build_catalog(warehouse_uri)
    warehouse.clear_stage(settings.run_key)
    return summary
