"""The DAG's plain-Python steps: plan a day, load what the batches staged, report.

Kept out of the DAG file so the DAG stays thin and these are testable without Airflow.
"""

from __future__ import annotations

import logging
import os
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from callmine.arrow_memory import use_system_allocator
from callmine.discovery import find_recordings_of_dates
from callmine.insights.analyzers import analyzer_identity
from callmine.config import resolve_uri
from callmine.providers import AVAILABLE as PROVIDERS
from callmine.recordings import Batch, RunSettings, make_batches
from callmine.warehouse import Warehouse
from callmine.warehouse.catalog import build_catalog
from callmine.warehouse.conform import conform

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


def plan_day(settings: RunSettings, batch_size: int, lookback_days: int = 0) -> list[dict[str, Any]]:
    """Find the day's recordings not yet loaded as completed, probe them, cut batches.

    Late and missed work heals itself: the ``lookback_days`` days before also give their
    recordings that are not loaded yet (they arrived after that day's run) or whose last
    attempt failed as retryable; they keep their own call date. Also plans insights
    catch-up: loaded calls whose insights are missing, failed, or made by another
    analyzer, model or prompt version (they are analyzed, not transcribed).

    One discovery pass serves the day and its lookback days (a source laid out by date
    has only their ``YYYY/MM/DD/`` folders listed; see ``callmine.discovery``).
    """
    call_date = date.fromisoformat(settings.call_date)
    warehouse = Warehouse(resolve_uri(settings.warehouse_uri))
    source = resolve_uri(settings.source_uri)
    skip = set() if settings.reprocess else warehouse.completed_call_ids(call_date)
    # The provider's limit on one recording (longer ones fail before any upload).
    max_duration = float(os.environ["CALLMINE_MAX_DURATION_S"]) if os.environ.get("CALLMINE_MAX_DURATION_S") else None
    # Each day with the call ids to skip on it; one pass over the source finds them all.
    wanted: dict[date, set[str]] = {call_date: skip}
    for back in range(1, max(0, lookback_days) + 1):
        day = call_date - timedelta(days=back)
        wanted[day] = {cid for cid, (status, retryable) in warehouse.call_states(day).items()
                       if not (status == "failed" and retryable)}
    found = find_recordings_of_dates(source, wanted, max_duration_s=max_duration)
    todays = found.of_date(call_date)
    earlier: list = []
    for day in list(wanted)[1:]:
        late = found.of_date(day)
        if late:
            log.info("lookback: %d recording(s) of %s not loaded yet or failed as retryable", len(late), day)
        earlier += late
    reanalyze = sorted(stale_insights(warehouse, call_date, settings.insights, skip))
    batches = make_batches(todays + earlier, settings, batch_size, reanalyze)
    unreadable = sum(1 for r in todays + earlier if r.probe_error)
    log.info(
        "call date %s: %d recording(s) to transcribe (%d unreadable) + %d from the %d day(s) before, "
        "%d already loaded, %d of them to analyze again (insights missing or stale), %d batch(es); "
        "%d non-audio file(s) ignored, %d listed recording(s) of other dates; skipped with a warning: "
        "%d still changing, %d outside the source root, %d with names that cannot be stored, %d unlistable folder(s)",
        settings.call_date, len(todays), unreadable, len(earlier), lookback_days,
        found.already_loaded_by_date.get(call_date, 0),
        len(reanalyze), len(batches), len(found.ignored), found.other_dates, len(found.unsettled),
        len(found.outside_root), len(found.unrepresentable), len(found.unlisted),
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


def load_day(settings: RunSettings, planned: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Merge every staged batch of this run into its days' partitions, then refresh the catalog.

    Every recording in ``planned`` (the discover step's batches) ends in ``calls``: one
    whose batch never staged it (its submit, wait or stage failed for good) is recorded
    as failed and retryable, with the reason the failing step left. Recordings picked up
    from earlier days (lookback) load into their own ``call_date`` partitions.
    """
    use_system_allocator()  # before the first large buffer (callmine.arrow_memory says why)
    warehouse_uri = resolve_uri(settings.warehouse_uri)
    warehouse = Warehouse(warehouse_uri)
    staged = warehouse.staged_tables(settings.run_key)
    staged["calls"] = _with_unaccounted(warehouse, settings, staged["calls"], planned or [])
    calls = staged["calls"]
    call_date = date.fromisoformat(settings.call_date)
    # Insights of calls loaded by an earlier run (catch-up) replace only their insights row.
    insights = staged["call_insights"]
    transcribed = pc.is_in(insights.column("call_id"), value_set=calls.column("call_id").combine_chunks())
    staged["call_insights"] = insights.filter(transcribed)
    caught_up = warehouse.replace_insights(call_date, insights.filter(pc.invert(transcribed)))
    rows: dict[str, int] = {}
    for day, day_tables in _by_call_date(staged, call_date).items():
        result = warehouse.replace_calls(day, day_tables)
        for name, n in result.rows_written.items():
            rows[name] = rows.get(name, 0) + n
    summary = run_summary(settings, calls, rows, caught_up)
    log.info("call date %s loaded: %s", settings.call_date, {k: v for k, v in summary.items() if k != "failures"})
    for failure in summary["failures"]:
        log.warning("failed call %s (%s, %s): %s%s", failure["call_id"], failure["source_uri"], failure["call_date"],
                    failure["error"], " [retryable]" if failure["retryable"] else "")
    if "://" not in warehouse_uri or warehouse_uri.startswith("file://"):
        build_catalog(warehouse_uri)
    warehouse.clear_stage(settings.run_key)
    return summary


def _with_unaccounted(warehouse: Warehouse, settings: RunSettings, calls: pa.Table,
                      planned: list[dict[str, Any]]) -> pa.Table:
    """The staged calls plus a failed, retryable row for each planned recording no batch staged."""
    from callmine.batch_rows import BatchRows
    from callmine.operators.failures import read_failure

    staged_ids = set(calls.column("call_id").to_pylist())
    rows = BatchRows(settings, trackers=None)  # failed rows only
    for batch_dict in planned:
        batch = Batch.from_dict(batch_dict)
        missing = [r for r in batch.recordings if r.call_id not in staged_ids]
        if not missing:
            continue
        failure = read_failure(warehouse, settings.run_key, batch.batch_id)
        why = (f"{failure['step']} of batch {batch.batch_id} failed: {failure['reason']}" if failure
               else f"batch {batch.batch_id} did not finish (see the logs of its submit, wait and stage tasks)")
        for rec in missing:
            if rec.probe_error:  # known before any provider was involved
                rows.add_failed(rec, rec.probe_error)
            else:
                rows.add_failed(rec, f"not transcribed: {why}", retryable=True)
    extra = rows.tables().get("calls")
    return calls if extra is None else pa.concat_tables([calls, conform("calls", extra)])


def _by_call_date(staged: dict[str, pa.Table], run_day: date) -> dict[date, dict[str, pa.Table]]:
    """Split the staged tables by the calls' own call_date (lookback brings earlier days' calls)."""
    calls = staged["calls"]
    dates = [d or run_day for d in calls.column("call_date").to_pylist()]
    out: dict[date, dict[str, pa.Table]] = {}
    for day in sorted(set(dates)):
        ids = pa.array([cid for cid, d in zip(calls.column("call_id").to_pylist(), dates) if d == day], pa.string())
        out[day] = {name: table.filter(pc.is_in(table.column("call_id"), value_set=ids))
                    for name, table in staged.items()}
    return out


def run_summary(settings: RunSettings, calls: pa.Table, rows: dict[str, int], caught_up: int) -> dict[str, Any]:
    """What the run did, with every failed call and its reason (the report step judges it)."""
    records = calls.select(["call_id", "source_uri", "call_date", "status", "error", "retryable"]).to_pylist()
    failures = [
        {"call_id": r["call_id"], "source_uri": r["source_uri"], "call_date": str(r["call_date"] or settings.call_date),
         "error": r["error"], "retryable": bool(r["retryable"])}
        for r in records if r["status"] == "failed"
    ]
    return {
        "call_date": settings.call_date,
        "calls": len(records),
        "completed": sum(1 for r in records if r["status"] == "completed"),
        "failed": len(failures),
        "retryable_failed": sum(1 for f in failures if f["retryable"]),
        "from_earlier_days": sum(1 for r in records if r["call_date"] and str(r["call_date"]) != settings.call_date),
        "insights_caught_up": caught_up,
        "rows": rows,
        "failures": failures,
    }


def judge_run(summary: dict[str, Any] | None, max_failed_ratio: float) -> str | None:
    """Why the run must fail (alerting fires), or None.

    Any retryable failure fails the run (an outage needs someone); non-retryable ones
    (a damaged file) only when their share passes ``max_failed_ratio``, and a single
    damaged file never does (on a small day one file is a large share).
    """
    if summary is None:
        return "the load step did not finish: nothing of this run reached the warehouse"
    failures = summary.get("failures") or []
    listing = "; ".join(f"{f['source_uri']}: {f['error']}" for f in failures[:20])
    retryable = [f for f in failures if f["retryable"]]
    if retryable:
        return (f"{len(retryable)} call(s) failed for a retryable reason (a later run retries them within the "
                f"lookback window, or re-run the day): {listing}")
    calls = summary.get("calls") or 0
    if len(failures) > 1 and len(failures) / calls > max_failed_ratio:
        return (f"{len(failures)} of {calls} call(s) failed ({len(failures) / calls:.0%} > "
                f"max_failed_ratio {max_failed_ratio:.0%}): {listing}")
    return None
