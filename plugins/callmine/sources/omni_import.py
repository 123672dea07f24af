"""The steps of the ``omni_call_import`` DAG: PyAI Omni calls (already transcribed) into the warehouse.

Same tables and load step as the speech pipeline, ``provider = 'pyai_omni'``. A call whose
transcript is not pushed yet (404) gets no row: a later run picks it up, nothing empty is
ever recorded.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from callmine.config import resolve_uri
from callmine.recordings import Batch, RunSettings, make_batches
from callmine.sources.omni import OmniClient, omni_recording, omni_roles, omni_transcript_to_fetched

log = logging.getLogger(__name__)
PROVIDER = "pyai_omni"
SOURCE_PREFIX = "pyai-omni://calls/"


def omni_settings(params: dict[str, Any], call_date: date, run_id: str) -> RunSettings:
    return RunSettings(
        call_date=call_date.isoformat(), run_id=run_id, source_uri=SOURCE_PREFIX.rstrip("/"),
        warehouse_uri=params["warehouse_uri"], provider=PROVIDER, trackers=params["trackers"],
        reprocess=bool(params.get("reprocess")), insights=params.get("insights") or "lexical",
    )


def plan_omni_day(settings: RunSettings, batch_size: int) -> list[dict[str, Any]]:
    """The day's Omni calls not loaded as completed yet, in batches (plus insights catch-up)."""
    from callmine.pipeline import stale_insights
    from callmine.warehouse import Warehouse

    day = date.fromisoformat(settings.call_date)
    warehouse = Warehouse(resolve_uri(settings.warehouse_uri))
    loaded = set() if settings.reprocess else warehouse.completed_call_ids(day)
    with OmniClient(conn_id="pyai_default") as client:
        calls = client.list_calls(day)
    recordings = [r for r in (omni_recording(c, day) for c in calls) if r.call_id not in loaded]
    reanalyze = sorted(stale_insights(warehouse, day, settings.insights, loaded))
    batches = make_batches(recordings, settings, batch_size, reanalyze)
    log.info("omni calls of %s: %d listed, %d to import, %d already loaded, %d to analyze again",
             settings.call_date, len(calls), len(recordings), len(calls) - len(recordings), len(reanalyze))
    return [b.to_dict() for b in batches]


def import_batch(batch_dict: dict[str, Any]) -> dict[str, Any]:
    """Fetch each call's transcript and stage its rows; a transcript not pushed yet is skipped."""
    from callmine.batch_rows import BatchRows
    from callmine.trackers import load_trackers
    from callmine.transcript import TranscriptError
    from callmine.warehouse import Warehouse

    batch = Batch.from_dict(batch_dict)
    settings = batch.settings
    rows = BatchRows(settings, load_trackers(resolve_uri(settings.trackers)))
    not_yet = 0
    with OmniClient(conn_id="pyai_default") as client:
        for rec in batch.recordings:
            omni_id = rec.source_uri.removeprefix(SOURCE_PREFIX)
            transcript = client.fetch_transcript(omni_id)
            if transcript is None:
                not_yet += 1
                log.info("omni call %s (%s): transcript not pushed yet, a later run imports it", omni_id, rec.call_id)
                continue
            try:
                fetched = omni_transcript_to_fetched(transcript)
            except TranscriptError as exc:
                rows.add_failed(rec, f"omni transcript unusable: {exc}", omni_id)
                continue
            if fetched.transcript.segments.end and fetched.transcript.segments.end[-1] is not None:
                rec.duration_s = rec.duration_s or fetched.transcript.segments.end[-1]
            rows.add_completed(rec, omni_id, fetched.transcript, None, {}, roles=omni_roles(fetched))
    Warehouse(resolve_uri(settings.warehouse_uri)).stage(settings.run_key, batch.batch_id.replace("/", "_"),
                                                         rows.tables())
    summary = {"completed": rows.completed, "failed": rows.failed, "not_pushed_yet": not_yet}
    log.info("omni batch %s staged: %s", batch.batch_id, summary)
    return {**batch.to_dict(), "staged": summary}
