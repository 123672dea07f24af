"""Fetch one batch's finished transcriptions and stage its warehouse rows (after the wait).

A retried stage re-fetches (results stay at the provider, raw answers of synchronous
services stay in the staging area) and overwrites the batch's staged file: it never
submits anything. Returns the batch (XCom) for the analyze step.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import httpx
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from callmine.object_store import open_file
from callmine.config import resolve_uri
from callmine.errors import ProviderError
from callmine.operators.failures import records_failure
from callmine.operators.submit import request_for
from callmine.providers import get_provider
from callmine.providers.base import FetchedTranscript, JobsProvider, RequestProvider
from callmine.recordings import Batch, Recording


class StageBatchOperator(BaseOperator):
    """:param wait_result: the wait sensor's XCom (``{"submission", "jobs", "pending"}``)."""

    template_fields: Sequence[str] = ("wait_result",)
    ui_color = "#e0d7ff"

    def __init__(self, *, wait_result: dict[str, Any], fetch_concurrency: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wait_result = wait_result
        self.fetch_concurrency = fetch_concurrency

    @records_failure("stage", lambda op: op.wait_result["submission"]["batch"])
    def execute(self, context: Any) -> dict[str, Any]:
        from callmine.arrow_memory import use_system_allocator
        from callmine.batch_rows import BatchRows
        from callmine.trackers import load_trackers
        from callmine.warehouse import Warehouse

        use_system_allocator()  # before the first large buffer (callmine.arrow_memory says why)
        submission = self.wait_result["submission"]
        batch = Batch.from_dict(submission["batch"])
        settings = batch.settings
        provider = get_provider(settings.provider, settings.conn_id)
        warehouse = Warehouse(resolve_uri(settings.warehouse_uri))
        rows = BatchRows(settings, load_trackers(resolve_uri(settings.trackers)))
        jobs: dict[str, str] = submission.get("jobs") or {}
        rejected: dict[str, str] = submission.get("rejected") or {}
        done: dict[str, dict[str, Any]] = self.wait_result.get("jobs") or {}
        to_fetch: list[tuple[Recording, str]] = []
        pending = 0
        for rec in batch.recordings:
            job_id = jobs.get(rec.call_id)
            status = done.get(job_id or "", {})
            if rec.probe_error:
                rows.add_failed(rec, rec.probe_error)
            elif rec.call_id in rejected:
                rows.add_failed(rec, rejected[rec.call_id])
            elif status.get("status") == "completed":
                to_fetch.append((rec, job_id))  # type: ignore[arg-type]
            elif status.get("status") in ("failed", "cancelled"):
                reason = status.get("error") or f"job {status['status']}"
                self.log.warning("batch %s: job %s for %s failed: %s", batch.batch_id, job_id, rec.source_uri, reason)
                rows.add_failed(rec, f"transcription {status['status']}: {reason}", job_id)
            else:  # not finished (should not happen after a successful wait): a later run retries it
                pending += 1
                rows.add_failed(rec, f"transcription unfinished: job {job_id} still {status.get('status', 'pending')}",
                                job_id, retryable=True)
        fetched = asyncio.run(self._fetch_all(provider, batch, to_fetch))
        transient = [o for o in fetched if isinstance(o, BaseException) and _retryable(o)]
        ti = context.get("ti") if isinstance(context, dict) else None
        if transient and ti is not None and ti.try_number <= (self.retries or 0):
            # Results stay at the provider: the task's retry fetches them again; only the last
            # try records what is still unreachable as failed and retryable.
            raise AirflowException(f"batch {batch.batch_id}: {len(transient)} result(s) could not be fetched "
                                   f"({transient[0]}); retrying the stage")
        call_date = date.fromisoformat(settings.call_date)
        for (rec, job_id), outcome in zip(to_fetch, fetched):
            if isinstance(outcome, BaseException):
                retryable = _retryable(outcome)
                self.log.warning("batch %s: result of job %s (%s) unusable: %s", batch.batch_id, job_id,
                                 rec.source_uri, outcome)
                rows.add_failed(rec, f"result unusable: {outcome}", job_id, retryable=retryable)
                continue
            subtitle_uris = {fmt: warehouse.write_subtitle(call_date, rec.call_id, fmt, content)
                             for fmt, content in outcome.subtitles.items()}
            rows.add_completed(rec, job_id, outcome.transcript, outcome.billed_seconds, subtitle_uris,
                               provider_insights=outcome.insights, speaker_talk_s=outcome.speaker_talk_s)
        warehouse.stage(settings.run_key, batch.batch_id.replace("/", "_"), rows.tables())
        summary = {"completed": rows.completed, "failed": rows.failed, "pending": pending}
        self.log.info("batch %s staged: %s", batch.batch_id, summary)
        return {**batch.to_dict(), "staged": summary}

    async def _fetch_all(self, provider: JobsProvider | RequestProvider, batch: Batch,
                         to_fetch: list[tuple[Recording, str]]) -> list[FetchedTranscript | BaseException]:
        if isinstance(provider, RequestProvider):
            from callmine.sensors.transcription import raw_prefix
            from callmine.triggers.requests import raw_answer_uri

            prefix = raw_prefix(batch)

            def parse(rec: Recording, request_id: str) -> FetchedTranscript | BaseException:
                try:
                    with open_file(raw_answer_uri(prefix, request_id)) as handle:
                        raw = json.load(handle)
                    return provider.parse(raw, request_for(rec, batch), rec.duration_s)
                except Exception as exc:  # one bad answer fails its call, not the batch
                    return exc

            return [parse(rec, request_id) for rec, request_id in to_fetch]
        gate = asyncio.Semaphore(self.fetch_concurrency)

        async def fetch(client: Any, rec: Recording, job_id: str) -> FetchedTranscript:
            async with gate:
                return await provider.afetch(client, job_id, rec.diarization, rec.duration_s)

        async with provider.async_client() as client:
            return await asyncio.gather(*(fetch(client, r, j) for r, j in to_fetch), return_exceptions=True)


def _retryable(error: BaseException) -> bool:
    """Transport trouble or a 5xx may pass; a malformed result will not."""
    return isinstance(error, (httpx.HTTPError, OSError)) or (isinstance(error, ProviderError) and error.retryable)
