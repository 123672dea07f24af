"""One trigger per batch for synchronous services (CallMissed, OpenAI-compatible transcription).

The request itself is the wait (an upload and a long answer), so it runs here, in the
triggerer: no worker slot is held. Each raw answer is written to the run's staging area
as soon as it arrives, so a retried wait never sends a recording twice; the stage step
parses them. One terminal event, like the jobs trigger: ``jobs`` maps each recording's
request id to ``{status, error}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from callmine.object_store import filesystem, open_file
from callmine.providers import get_provider
from callmine.providers.base import AudioSource, Fatal, JobRequest, Rejected, RetryLater
from callmine.retry import Backoff
from callmine.transcript import Diarization


def raw_answer_uri(raw_prefix: str, request_id: str) -> str:
    return f"{raw_prefix.rstrip('/')}/{request_id}.json"


class ProviderRequestsTrigger(BaseTrigger):
    """``items``: one dict per recording: request_id, call_id, source_uri, filename, diarization,
    speakers, language (no secret, no audio: the audio is read from ``source_uri`` here)."""

    def __init__(self, *, provider: str, conn_id: str | None, batch_id: str, items: list[dict[str, Any]],
                 raw_prefix: str, deadline: float, concurrency: int = 4) -> None:
        super().__init__()
        self.provider = provider
        self.conn_id = conn_id
        self.batch_id = batch_id
        self.items = list(items)
        self.raw_prefix = raw_prefix
        self.deadline = deadline
        self.concurrency = concurrency

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"provider": self.provider, "conn_id": self.conn_id, "batch_id": self.batch_id, "items": self.items,
             "raw_prefix": self.raw_prefix, "deadline": self.deadline, "concurrency": self.concurrency},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        provider = get_provider(self.provider, self.conn_id)
        gate = asyncio.Semaphore(max(1, self.concurrency))
        results: dict[str, dict[str, Any]] = {}
        fatal: list[str] = []

        async def one(client: Any, item: dict[str, Any]) -> None:
            request_id = item["request_id"]
            uri = raw_answer_uri(self.raw_prefix, request_id)
            if await asyncio.to_thread(_exists, uri):  # answered before a retry: never sent twice
                results[request_id] = {"status": "completed", "error": None}
                return
            request = JobRequest(call_id=item["call_id"], diarization=Diarization(item["diarization"]),
                                 speakers=item["speakers"], idempotency_key=request_id, language=item.get("language"))
            backoff = Backoff(base_s=2.0, factor=2.0, cap_s=120.0)
            attempt = 0
            while not fatal:
                async with gate:
                    try:
                        content = await asyncio.to_thread(_read, item["source_uri"])
                    except OSError as exc:
                        results[request_id] = {"status": "failed", "error": f"cannot read recording: {exc}"}
                        return
                    answer = await provider.arequest(client, request, AudioSource(item["filename"], content=content))
                if isinstance(answer, dict):
                    await asyncio.to_thread(_write, uri, json.dumps(answer).encode())
                    results[request_id] = {"status": "completed", "error": None}
                    return
                if isinstance(answer, Rejected):
                    results[request_id] = {"status": "failed", "error": answer.reason}
                    return
                if isinstance(answer, Fatal):
                    fatal.append(answer.reason)
                    return
                delay = backoff.delay(attempt, answer.after_s)
                attempt += 1
                if time.time() + delay >= self.deadline:
                    return  # still pending at the deadline
                self.log.warning("batch %s: %s for %s, retrying in %.0fs", self.batch_id, answer.reason,
                                 item["source_uri"], delay)
                await asyncio.sleep(delay)

        async with provider.async_client() as client:
            await asyncio.gather(*(one(client, item) for item in self.items))
        pending = [i["request_id"] for i in self.items if i["request_id"] not in results]
        if fatal:
            status, message = "error", fatal[0]
        elif pending:
            status, message = "timeout", f"batch {self.batch_id}: {len(pending)} request(s) unanswered at the deadline"
        else:
            status, message = "success", f"all {len(results)} request(s) of batch {self.batch_id} answered"
        yield TriggerEvent({"status": status, "batch_id": self.batch_id, "jobs": results, "pending": pending,
                            "message": message})


def _exists(uri: str) -> bool:
    fs, path = filesystem(uri)
    return fs.exists(path)


def _read(uri: str) -> bytes:
    with open_file(uri) as handle:
        return handle.read()


def _write(uri: str, content: bytes) -> None:
    fs, path = filesystem(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    tmp = f"{path}.tmp"
    with fs.open(tmp, "wb") as handle:
        handle.write(content)
    fs.mv(tmp, path)
