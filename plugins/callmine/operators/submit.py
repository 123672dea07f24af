"""Submit one batch of recordings to the speech provider (the first step of a batch).

Idempotent by construction, because the scheduler may run it more than once (retries,
clears, the Airflow 3.3.2 deferral race):
- each job id is written to the task's state store the moment it exists, and a
  recording with a stored job is never submitted again (services without an
  idempotency key, like AssemblyAI, rely on this);
- services with one (PyAI) also get a deterministic ``Idempotency-Key``, so even a
  submit whose answer was lost returns the existing job.
Synchronous services (``RequestProvider``) submit nothing here: their requests run in
the wait step's trigger; recordings they cannot take are rejected here, before upload.

The pipeline hears outcomes, never HTTP: ``Rejected`` -> a failed call with its reason;
``RetryLater`` -> the task fails after recording what was submitted (its retry submits
the rest); ``Fatal`` -> ``AirflowFailException`` at once (a retry cannot fix a bad key).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from callmine.object_store import open_file, split_conn_id
from callmine.operators.failures import records_failure
from callmine.providers import get_provider
from callmine.providers.base import (
    AudioSource, Fatal, JobRequest, JobsProvider, Rejected, RequestProvider, RetryLater, Submitted,
)
from callmine.recordings import Batch, Recording, idempotency_key

STATE_KEY = "callmine_submission"


def request_for(rec: Recording, batch: Batch) -> JobRequest:
    s = batch.settings
    return JobRequest(call_id=rec.call_id, diarization=rec.diarization, speakers=s.speakers,
                      idempotency_key=idempotency_key(rec, s), output_formats=tuple(s.output_formats),
                      language=s.language)


class SubmitBatchOperator(BaseOperator):
    """Submit a batch; returns the submission (XCom): ``{batch, provider, jobs, rejected, submitted_at}``.

    :param batch: a ``Batch.to_dict()`` (from the discover task).
    :param wait_for_completion: also wait for the jobs (defer to the batch trigger), like the
        dbt-cloud provider's run operator, for use in DAGs without the wait sensor.
    """

    template_fields: Sequence[str] = ("batch",)
    ui_color = "#d7ecff"

    def __init__(self, *, batch: dict[str, Any], submit_concurrency: int = 8, wait_for_completion: bool = False,
                 wait_timeout_s: float = 6 * 3600, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch = batch
        self.submit_concurrency = submit_concurrency
        self.wait_for_completion = wait_for_completion
        self.wait_timeout_s = wait_timeout_s

    @records_failure("submit", lambda op: op.batch)
    def execute(self, context: Any) -> dict[str, Any]:
        batch = Batch.from_dict(self.batch)
        provider = get_provider(batch.settings.provider, batch.settings.conn_id)
        store = context.get("task_state_store")
        state = _load_state(store, batch)
        if isinstance(provider, RequestProvider):
            self._check_requests(batch, provider, state)
        else:
            self._submit_jobs(batch, provider, state, store)
        _save_state(store, state)
        submission = _submission(batch, provider.name, provider.kind, state)
        if self.wait_for_completion:
            from callmine.sensors.transcription import defer_for

            defer_for(self, submission, self.wait_timeout_s, method_name="execute_complete")
        return submission

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """With ``wait_for_completion``: the submission (from the state store) and the jobs' statuses."""
        from callmine.sensors.transcription import result_of_wait

        batch = Batch.from_dict(self.batch)
        provider = get_provider(batch.settings.provider, batch.settings.conn_id)
        state = _load_state(context.get("task_state_store"), batch)
        return result_of_wait(_submission(batch, provider.name, provider.kind, state), event)

    # -- jobs services -----------------------------------------------------------------------
    def _submit_jobs(self, batch: Batch, provider: JobsProvider, state: dict[str, Any], store: Any) -> None:
        todo = [r for r in batch.recordings
                if not r.probe_error and r.call_id not in state["jobs"] and r.call_id not in state["rejected"]]
        lock = threading.Lock()
        retry: list[RetryLater] = []
        fatal: list[Fatal] = []

        def submit(rec: Recording) -> None:
            if fatal:
                return
            try:
                outcome = provider.submit_job(request_for(rec, batch), _audio_source(rec, batch.settings.source_uri))
            except OSError as exc:
                outcome = Rejected(f"cannot read recording: {exc}")
            with lock:
                if isinstance(outcome, Submitted):
                    state["jobs"][rec.call_id] = outcome.job_id
                    _save_state(store, state)  # the moment the job exists: a retry never submits it again
                    self.log.info("batch %s: %s -> job %s (%s)", batch.batch_id, rec.source_uri, outcome.job_id,
                                  rec.call_id)
                elif isinstance(outcome, Rejected):
                    state["rejected"][rec.call_id] = outcome.reason
                    self.log.warning("batch %s: %s (%s) rejected: %s", batch.batch_id, rec.source_uri, rec.call_id,
                                     outcome.reason)
                elif isinstance(outcome, RetryLater):
                    retry.append(outcome)
                else:
                    fatal.append(outcome)

        if todo:
            with ThreadPoolExecutor(max_workers=self.submit_concurrency) as pool:
                list(pool.map(submit, todo))
        resumed = len(batch.recordings) - len(todo)
        self.log.info("batch %s: %d job(s) submitted (%d from an earlier try), %d rejected, %d unreadable",
                      batch.batch_id, len(state["jobs"]), resumed, len(state["rejected"]),
                      sum(1 for r in batch.recordings if r.probe_error))
        if fatal:
            raise AirflowFailException(f"batch {batch.batch_id}: {provider.name}: {fatal[0].reason}")
        if retry:
            # What was submitted is kept; the task's retry submits the rest.
            raise AirflowException(f"batch {batch.batch_id}: {len(retry)} submit(s) must be retried: {retry[0].reason}")

    # -- request services ----------------------------------------------------------------------
    def _check_requests(self, batch: Batch, provider: RequestProvider, state: dict[str, Any]) -> None:
        for rec in batch.recordings:
            if rec.probe_error or rec.call_id in state["jobs"]:
                continue
            refused = provider.check(rec.filename, rec.size_bytes)
            if refused is not None:
                state["rejected"][rec.call_id] = refused.reason
                self.log.warning("batch %s: %s (%s) rejected before upload: %s", batch.batch_id, rec.source_uri,
                                 rec.call_id, refused.reason)
            else:
                state["jobs"][rec.call_id] = f"req_{idempotency_key(rec, batch.settings)}"
        self.log.info("batch %s: %d request(s) for the wait step, %d rejected", batch.batch_id, len(state["jobs"]),
                      len(state["rejected"]))


def _submission(batch: Batch, provider: str, kind: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"batch": batch.to_dict(), "provider": provider, "kind": kind, "jobs": state["jobs"],
            "rejected": state["rejected"], "submitted_at": state["submitted_at"]}


def _load_state(store: Any, batch: Batch) -> dict[str, Any]:
    """The stored submission of this batch, kept only for recordings still in the batch with the same keys."""
    state = (store.get(STATE_KEY) if store is not None else None) or {}
    keys = {r.call_id: idempotency_key(r, batch.settings) for r in batch.recordings}
    stored_keys = state.get("keys") or {}
    same = {cid for cid, key in keys.items() if stored_keys.get(cid) == key}
    return {
        "jobs": {cid: j for cid, j in (state.get("jobs") or {}).items() if cid in same},
        "rejected": {cid: r for cid, r in (state.get("rejected") or {}).items() if cid in same},
        "keys": keys,
        "submitted_at": state.get("submitted_at") or time.time(),
    }


def _save_state(store: Any, state: dict[str, Any]) -> None:
    if store is not None:
        store.set(STATE_KEY, state)


def _audio_source(rec: Recording, source_uri: str) -> AudioSource:
    """http(s) recordings are fetched by the provider; anything else is uploaded.

    Opened with the credentials of the run's source (``s3://<conn_id>@bucket/...``).
    """
    if rec.source_uri.startswith(("http://", "https://")):
        return AudioSource(filename=rec.filename, url=rec.source_uri)
    with open_file(rec.source_uri, conn_id=split_conn_id(source_uri)[1]) as handle:
        return AudioSource(filename=rec.filename, content=handle.read())
