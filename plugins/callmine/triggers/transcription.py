"""One trigger per batch: polls all the batch's jobs concurrently until each is terminal.

It is a thin loop: it holds no result, only job statuses, and yields exactly one
event. Everything the resumed operator needs is in that event's payload.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from callmine.providers import get_provider
from callmine.providers.base import Fatal, JobStatus, RetryLater
from callmine.retry import Backoff


class TranscriptionJobsTrigger(BaseTrigger):
    """Wait for a batch of speech jobs.

    Event payload: ``status`` (``success`` when every job is terminal, ``timeout`` when
    the deadline passed first, ``error`` when the provider refuses us as configured, e.g.
    a revoked key), ``batch_id``, ``jobs`` {job_id: {status, error}} for terminal jobs,
    ``pending`` [job_id] and ``message``. Its arguments are only what polling needs
    (provider, connection id, job ids, deadline): they are stored in the database and
    hold no secret and no transcript.
    """

    def __init__(
        self,
        *,
        provider: str,
        conn_id: str | None,
        job_ids: list[str],
        batch_id: str,
        deadline: float,
        poll_interval_s: float = 5.0,
        max_poll_interval_s: float = 60.0,
        max_concurrency: int = 16,
        first_poll_delay_s: float | None = None,
    ) -> None:
        super().__init__()
        self.provider = provider
        self.conn_id = conn_id
        self.job_ids = list(job_ids)
        self.batch_id = batch_id
        self.deadline = deadline  # absolute epoch seconds: survives a triggerer restart
        self.poll_interval_s = poll_interval_s
        self.max_poll_interval_s = max_poll_interval_s
        self.max_concurrency = max_concurrency
        self.first_poll_delay_s = poll_interval_s if first_poll_delay_s is None else first_poll_delay_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "provider": self.provider,
                "conn_id": self.conn_id,
                "job_ids": self.job_ids,
                "batch_id": self.batch_id,
                "deadline": self.deadline,
                "poll_interval_s": self.poll_interval_s,
                "max_poll_interval_s": self.max_poll_interval_s,
                "max_concurrency": self.max_concurrency,
                "first_poll_delay_s": self.first_poll_delay_s,
            },
        )

    def _event(self, status: str, done: dict[str, JobStatus], pending: list[str], message: str) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": status,
                "batch_id": self.batch_id,
                "jobs": {j: {"status": s.status, "error": s.error} for j, s in done.items()},
                "pending": pending,
                "message": message,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        provider = get_provider(self.provider, self.conn_id)
        backoff = Backoff(base_s=self.poll_interval_s, factor=1.5, cap_s=self.max_poll_interval_s)
        gate = asyncio.Semaphore(self.max_concurrency)
        done: dict[str, JobStatus] = {}
        pending = list(self.job_ids)
        idle_rounds = 0

        async def poll(client: Any, job_id: str) -> JobStatus | RetryLater | Fatal:
            async with gate:
                try:
                    return await provider.apoll_job(client, job_id)
                except Exception as exc:  # a provider bug or transport oddity: the next round retries
                    return RetryLater(f"get job {job_id} failed: {type(exc).__name__}: {exc}")

        await asyncio.sleep(max(0.0, min(self.first_poll_delay_s, self.deadline - time.time())))
        async with provider.async_client() as client:
            while True:
                answers = await asyncio.gather(*(poll(client, j) for j in pending))
                retry_after = 0.0
                for job_id, answer in zip(pending, answers):
                    if isinstance(answer, JobStatus):
                        if answer.terminal:
                            done[job_id] = answer
                    elif isinstance(answer, RetryLater):
                        retry_after = max(retry_after, answer.after_s or 0.0)
                    else:
                        self.log.error("batch %s: polling job %s: %s", self.batch_id, job_id, answer.reason)
                        yield self._event("error", done, [j for j in pending if j not in done], answer.reason)
                        return
                progressed = len(done) > len(self.job_ids) - len(pending)
                pending = [j for j in pending if j not in done]
                if not pending:
                    yield self._event("success", done, [], f"all {len(done)} jobs of batch {self.batch_id} finished")
                    return
                now = time.time()
                if now >= self.deadline:
                    yield self._event(
                        "timeout", done, pending,
                        f"batch {self.batch_id}: {len(pending)} job(s) still unfinished at the deadline: "
                        + ", ".join(pending[:10]),
                    )
                    return
                idle_rounds = 0 if progressed else idle_rounds + 1
                delay = backoff.delay(idle_rounds, retry_after or None)
                self.log.info(
                    "batch %s: %d/%d jobs finished, next poll in %.1fs",
                    self.batch_id, len(done), len(self.job_ids), delay,
                )
                await asyncio.sleep(min(delay, max(0.0, self.deadline - now)))
