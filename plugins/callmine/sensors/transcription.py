"""Wait for one batch's transcriptions: a real sensor, deferrable by default.

Deferrable (the default), it hands the wait to the batch's trigger in the triggerer:
no worker slot is held, and a retried wait re-polls the same jobs (the submission comes
from the submit task's XCom), never re-submits. With ``deferrable=False`` it pokes in
``reschedule`` mode: one poll round per poke, the slot released in between.

Its result (XCom) is ``{"submission": ..., "jobs": {job_id: {status, error}}, "pending": [...]}``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from callmine.config import resolve_uri
from callmine.operators.failures import records_failure
from callmine.recordings import Batch

RAW_DIR = "_raw"


def raw_prefix(batch: Batch) -> str:
    """Where a synchronous service's raw answers for this batch are kept until staged."""
    from callmine.warehouse import Warehouse

    from callmine.object_store import split_conn_id, with_conn_id

    warehouse = Warehouse(resolve_uri(batch.settings.warehouse_uri))
    prefix = warehouse.storage.url(warehouse.storage.path("_staging", batch.settings.run_key, RAW_DIR))
    return with_conn_id(prefix, split_conn_id(batch.settings.warehouse_uri)[1])  # the trigger writes with it


def trigger_for(submission: dict[str, Any], deadline: float, poll_interval_s: float = 5.0,
                max_poll_interval_s: float = 60.0, request_concurrency: int = 4):
    """The batch's trigger: its arguments are ids and URIs only (no secret, no transcript)."""
    batch = Batch.from_dict(submission["batch"])
    settings = batch.settings
    if submission.get("kind") == "request":
        from callmine.object_store import split_conn_id, with_conn_id
        from callmine.triggers.requests import ProviderRequestsTrigger

        recordings = {r.call_id: r for r in batch.recordings}
        source_conn = split_conn_id(settings.source_uri)[1]  # a connection id, never a secret
        items = [
            {"request_id": request_id, "call_id": cid,
             "source_uri": with_conn_id(recordings[cid].source_uri, source_conn),
             "filename": recordings[cid].filename, "diarization": recordings[cid].diarization.value,
             "speakers": settings.speakers, "language": settings.language}
            for cid, request_id in sorted(submission["jobs"].items())
        ]
        return ProviderRequestsTrigger(provider=settings.provider, conn_id=settings.conn_id,
                                       batch_id=batch.batch_id, items=items, raw_prefix=raw_prefix(batch),
                                       deadline=deadline, concurrency=request_concurrency)
    from callmine.triggers.transcription import TranscriptionJobsTrigger

    return TranscriptionJobsTrigger(provider=settings.provider, conn_id=settings.conn_id,
                                    job_ids=sorted(submission["jobs"].values()), batch_id=batch.batch_id,
                                    deadline=deadline, poll_interval_s=poll_interval_s,
                                    max_poll_interval_s=max_poll_interval_s)


def result_of_wait(submission: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The wait's result from the trigger's event; a refused configuration fails at once."""
    batch_id = submission["batch"]["batch_id"]
    if event.get("status") == "error":
        raise AirflowFailException(f"batch {batch_id}: {submission.get('provider')}: {event.get('message')}")
    if event.get("status") == "timeout":
        raise AirflowException(event.get("message") or f"batch {batch_id}: jobs unfinished at the deadline")
    return {"submission": submission, "jobs": event.get("jobs") or {}, "pending": event.get("pending") or []}


class TranscriptionJobsSensor(BaseSensorOperator):
    """Wait until every job of a batch is finished.

    :param submission: the submit task's XCom (``SubmitBatchOperator``).
    :param deferrable: wait in the triggerer (default) instead of poking from a worker.
    :param poll_interval_s: first and minimum wait between poll rounds in the trigger.
    :param max_poll_interval_s: poll backoff ceiling while nothing finishes.
    """

    template_fields: Sequence[str] = ("submission",)
    ui_color = "#fff2cc"

    def __init__(self, *, submission: dict[str, Any], deferrable: bool = True, poll_interval_s: float = 5.0,
                 max_poll_interval_s: float = 60.0, request_concurrency: int = 4, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        kwargs.setdefault("timeout", 6 * 3600)
        kwargs.setdefault("poke_interval", 30)
        super().__init__(**kwargs)
        self.submission = submission
        self.deferrable = deferrable
        self.poll_interval_s = poll_interval_s
        self.max_poll_interval_s = max_poll_interval_s
        self.request_concurrency = request_concurrency

    @records_failure("wait", lambda op: op.submission["batch"])
    def execute(self, context: Any) -> Any:
        if not self.submission.get("jobs"):
            self.log.info("batch %s: nothing to wait for", self.submission["batch"]["batch_id"])
            return {"submission": self.submission, "jobs": {}, "pending": []}
        if not self.deferrable:
            return super().execute(context)
        # Each try waits its own timeout from now: a retried wait re-polls the same jobs.
        self.defer(
            trigger=self._trigger(time.time() + float(self.timeout)),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + 600),
        )

    @records_failure("wait", lambda op: op.submission["batch"])
    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        result = result_of_wait(self.submission, event)
        self.log.info("batch %s: %s", self.submission["batch"]["batch_id"], event.get("message"))
        return result

    def poke(self, context: Any) -> PokeReturnValue:
        """One poll round (jobs) or the whole request round (synchronous services), from the worker."""
        # Jobs: a deadline of now makes the trigger poll exactly once; requests: send them all now.
        trigger = self._trigger(time.time() + (float(self.timeout) if self.submission.get("kind") == "request" else 0))
        event = asyncio.run(_first_event(trigger))
        if event.get("status") == "timeout" and self.submission.get("kind") != "request":
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=result_of_wait(self.submission, event))

    def _trigger(self, deadline: float):
        return trigger_for(self.submission, deadline, self.poll_interval_s, self.max_poll_interval_s,
                           self.request_concurrency)


async def _first_event(trigger: Any) -> dict[str, Any]:
    async for event in trigger.run():
        return event.payload
    raise AirflowException("the trigger ended without an event")


def defer_for(operator: Any, submission: dict[str, Any], timeout_s: float, method_name: str) -> None:
    """Defer ``operator`` to the batch's trigger (the submit operator's ``wait_for_completion``)."""
    if not submission.get("jobs"):
        return
    operator.defer(trigger=trigger_for(submission, time.time() + timeout_s), method_name=method_name,
                   timeout=timedelta(seconds=timeout_s + 600))

