"""Submit one batch of recordings as speech jobs, defer until they finish, stage the results.

Idempotent by construction, because the scheduler may run it more than once (retries,
clears, the Airflow 3.3.2 deferral race):
- every job is submitted with a deterministic ``Idempotency-Key``, so a re-submit
  returns the existing job instead of creating a duplicate;
- the job ids are kept in the task's state store, so a retried task goes straight back
  to polling without uploading anything again;
- results are staged under one file per batch, overwritten on a re-run.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import fsspec
from airflow.sdk import BaseOperator

from callmine.errors import ProviderError
from callmine.config import resolve_uri
from callmine.providers import get_provider
from callmine.providers.base import AudioSource, FetchedTranscript, JobRequest, JobStatus, SpeechProvider
from callmine.recordings import Batch, Recording, idempotency_key
from callmine.triggers.transcription import TranscriptionJobsTrigger

STATE_KEY = "callmine_jobs"
# 4xx answers that condemn one recording, not the whole batch (bad or oversized audio).
PER_RECORDING_STATUSES = frozenset({400, 413, 415, 422})


class TranscribeBatchOperator(BaseOperator):
    """One mapped instance per batch: submit its jobs, wait in the triggerer, stage rows.

    :param batch: a ``Batch.to_dict()`` (from the discover task).
    :param poll_interval_s: first and minimum wait between poll rounds.
    :param max_poll_interval_s: poll backoff ceiling while nothing finishes.
    :param wait_timeout_s: deadline for the whole batch, from the first submit.
    """

    template_fields: Sequence[str] = ("batch",)
    ui_color = "#d7ecff"

    def __init__(
        self,
        *,
        batch: dict[str, Any],
        poll_interval_s: float = 5.0,
        max_poll_interval_s: float = 60.0,
        wait_timeout_s: float = 6 * 3600,
        submit_concurrency: int = 8,
        fetch_concurrency: int = 8,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.batch = batch
        self.poll_interval_s = poll_interval_s
        self.max_poll_interval_s = max_poll_interval_s
        self.wait_timeout_s = wait_timeout_s
        self.submit_concurrency = submit_concurrency
        self.fetch_concurrency = fetch_concurrency

    # -- submit ----------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:
        batch = Batch.from_dict(self.batch)
        if not batch.recordings:
            self.log.info("batch %s: insights catch-up only (%d loaded call(s)), nothing to transcribe",
                          batch.batch_id, len(batch.reanalyze))
            return {"batch_id": batch.batch_id, "completed": 0, "failed": 0, "pending": 0}
        provider = get_provider(batch.settings.provider, batch.settings.conn_id)
        store = context.get("task_state_store")
        state = store.get(STATE_KEY) if store is not None else None
        if state and state.get("fingerprint") == _fingerprint(batch):
            self.log.info("batch %s: resuming %d submitted job(s), not re-submitting", batch.batch_id, len(state["jobs"]))
            statuses = asyncio.run(self._poll_once(provider, list(state["jobs"].values())))
        else:
            state, statuses = self._submit_all(batch, provider)
            if store is not None:
                store.set(STATE_KEY, state)
        if not all(s.terminal for s in statuses.values()):
            self.defer(
                trigger=TranscriptionJobsTrigger(
                    provider=batch.settings.provider,
                    conn_id=batch.settings.conn_id,
                    job_ids=sorted(state["jobs"].values()),
                    batch_id=batch.batch_id,
                    deadline=state["submitted_at"] + self.wait_timeout_s,
                    poll_interval_s=self.poll_interval_s,
                    max_poll_interval_s=self.max_poll_interval_s,
                    submission=state,
                ),
                method_name="execute_complete",
            )
        # Every job already finished (a re-run whose submits were idempotent replays):
        # no deferral round-trip needed.
        done = {j: {"status": s.status, "error": s.error} for j, s in statuses.items()}
        return self._finish(batch, provider, state, done)

    def _submit_all(self, batch: Batch, provider: SpeechProvider) -> tuple[dict[str, Any], dict[str, JobStatus]]:
        to_submit = [r for r in batch.recordings if not r.probe_error]
        jobs: dict[str, str] = {}
        statuses: dict[str, JobStatus] = {}
        rejected: dict[str, str] = {}

        def submit(rec: Recording) -> tuple[Recording, JobStatus | None, str | None]:
            request = JobRequest(
                call_id=rec.call_id,
                diarization=rec.diarization,
                speakers=batch.settings.speakers,
                idempotency_key=idempotency_key(rec, batch.settings),
                output_formats=tuple(batch.settings.output_formats),
                language=batch.settings.language,
            )
            try:
                status = provider.submit(request, _audio_source(rec))
            except ProviderError as exc:
                if exc.status in PER_RECORDING_STATUSES:
                    return rec, None, f"provider rejected the recording: {exc}"
                raise
            except OSError as exc:
                return rec, None, f"cannot read recording: {exc}"
            return rec, status, None

        with ThreadPoolExecutor(max_workers=self.submit_concurrency) as pool:
            for rec, status, error in pool.map(submit, to_submit):
                if status:
                    jobs[rec.call_id] = status.job_id
                    statuses[status.job_id] = status
                    self.log.info("batch %s: %s -> job %s (%s)", batch.batch_id, rec.source_uri, status.job_id, rec.call_id)
                else:
                    rejected[rec.call_id] = error or "not submitted"
                    self.log.warning("batch %s: %s (%s) not submitted: %s", batch.batch_id, rec.source_uri, rec.call_id, error)
        self.log.info("batch %s: submitted %d job(s), %d rejected, %d unreadable",
                      batch.batch_id, len(jobs), len(rejected), len(batch.recordings) - len(to_submit))
        state = {
            "batch_id": batch.batch_id,
            "fingerprint": _fingerprint(batch),
            "jobs": jobs,
            "rejected": rejected,
            "submitted_at": time.time(),
        }
        return state, statuses

    @staticmethod
    async def _poll_once(provider: SpeechProvider, job_ids: list[str]) -> dict[str, JobStatus]:
        async with provider.async_client() as client:
            answers = await asyncio.gather(*(provider.apoll(client, j) for j in job_ids), return_exceptions=True)
        return {
            j: a if isinstance(a, JobStatus) else JobStatus(j, "unknown")
            for j, a in zip(job_ids, answers)
        }

    # -- resume ----------------------------------------------------------------------
    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        batch = Batch.from_dict(self.batch)
        provider = get_provider(batch.settings.provider, batch.settings.conn_id)
        state = event.get("submission") or {}
        if state.get("fingerprint") != _fingerprint(batch):
            # Not this batch's submission (should not happen): re-submitting is a lookup,
            # the idempotency keys return the existing jobs.
            state, _ = self._submit_all(batch, provider)
        if event.get("status") == "error":
            raise RuntimeError(f"batch {batch.batch_id}: {event.get('message')}")
        summary = self._finish(batch, provider, state, event.get("jobs") or {})
        if event.get("status") == "timeout":
            # Stage what finished, then fail so a retry re-polls the rest (no re-submit).
            raise TimeoutError(event.get("message"))
        return summary

    def _finish(
        self, batch: Batch, provider: SpeechProvider, state: dict[str, Any], done: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        # Imported here: the DAG file imports this module at parse time, and these pull in
        # pyarrow and duckdb, which only the finishing step needs.
        from callmine.batch_rows import BatchRows
        from callmine.trackers import load_trackers
        from callmine.warehouse import Warehouse

        settings = batch.settings
        warehouse = Warehouse(resolve_uri(settings.warehouse_uri))
        rows = BatchRows(settings, load_trackers(resolve_uri(settings.trackers)))
        jobs: dict[str, str] = state["jobs"]
        rejected: dict[str, str] = state.get("rejected", {})
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
            else:
                pending += 1
        fetched = asyncio.run(self._fetch_all(provider, to_fetch))
        call_date = date.fromisoformat(settings.call_date)
        for (rec, job_id), outcome in zip(to_fetch, fetched):
            if isinstance(outcome, BaseException):
                self.log.warning("batch %s: result of job %s (%s) unusable: %s", batch.batch_id, job_id, rec.source_uri, outcome)
                rows.add_failed(rec, f"result unusable: {outcome}", job_id)
                continue
            subtitle_uris = {
                fmt: warehouse.write_subtitle(call_date, rec.call_id, fmt, content)
                for fmt, content in outcome.subtitles.items()
            }
            rows.add_completed(rec, job_id, outcome.transcript, outcome.billed_seconds, subtitle_uris)
        warehouse.stage(settings.run_key, batch.batch_id.replace("/", "_"), rows.tables())
        summary = {"batch_id": batch.batch_id, "completed": rows.completed, "failed": rows.failed, "pending": pending}
        self.log.info("batch %s staged: %s", batch.batch_id, summary)
        return summary

    async def _fetch_all(
        self, provider: SpeechProvider, to_fetch: list[tuple[Recording, str]]
    ) -> list[FetchedTranscript | BaseException]:
        gate = asyncio.Semaphore(self.fetch_concurrency)

        async def fetch(client: Any, rec: Recording, job_id: str) -> FetchedTranscript:
            async with gate:
                return await provider.afetch(client, job_id, rec.diarization)

        async with provider.async_client() as client:
            return await asyncio.gather(*(fetch(client, r, j) for r, j in to_fetch), return_exceptions=True)


def _fingerprint(batch: Batch) -> str:
    """Which recordings, with which job config, a submission covers.

    A cleared run may cut different batches (new recordings arrived): a stored
    submission is reused only for exactly the same recordings and keys.
    """
    keys = sorted(idempotency_key(r, batch.settings) for r in batch.recordings if not r.probe_error)
    return hashlib.sha256("\n".join([batch.batch_id, *keys]).encode()).hexdigest()[:32]


def _audio_source(rec: Recording) -> AudioSource:
    """http(s) recordings are fetched by the provider; anything else is uploaded."""
    if rec.source_uri.startswith(("http://", "https://")):
        return AudioSource(filename=rec.filename, url=rec.source_uri)
    with fsspec.open(rec.source_uri, "rb") as handle:
        return AudioSource(filename=rec.filename, content=handle.read())
