"""State of the fake service shared by the API and result listeners (one event loop)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from .config import FakeConfig
from .faults import FaultInjector
from .jobs import DUE, Job, Outcome, build_outcome
from .problems import ProblemError
from .rate_limit import RateLimiter
from .submission import Submission
from .webhooks import deliver_webhook

MAX_IDEMPOTENCY_KEY = 255


@dataclass(slots=True)
class Counters:
    requests: int = 0
    jobs_created: int = 0
    idempotent_replays: int = 0
    conflicts: int = 0
    rate_limited: int = 0
    unauthorized: int = 0
    forbidden: int = 0
    credit_exhausted: int = 0
    server_errors_injected: int = 0
    slow_responses_injected: int = 0
    job_gets: int = 0
    result_fetches: int = 0
    result_fetches_with_auth: int = 0
    result_fetches_bad_signature: int = 0
    audio_fetches: int = 0
    audio_fetch_failures: int = 0
    webhooks_sent: int = 0
    webhooks_failed: int = 0


class FakeService:
    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.result_base_url = ""  # set by the server once the result listener is bound
        self.counters = Counters()
        self.rate_limiter = RateLimiter()
        self.faults = FaultInjector(config.fault_seed)
        # Jobs created (never replays) per Idempotency-Key and per audio (upload digest or audio_url):
        # more than one for the same recording means it was submitted twice.
        self.jobs_by_key: Counter[str] = Counter()
        self.jobs_by_audio: Counter[str] = Counter()
        self.created: dict[str, tuple[str | None, str]] = {}  # job_id -> (Idempotency-Key, audio identity)
        self._jobs: dict[str, Job] = {}
        self._by_owner: dict[str, list[Job]] = {}  # creation order, append-only
        self._idempotency: dict[tuple[str, str], tuple[str, str]] = {}  # -> (fingerprint, job_id)
        self._tasks: set[asyncio.Task[None]] = set()  # audio downloads and webhooks
        self._http: httpx.AsyncClient | None = None
        self._fetch_slots: asyncio.Semaphore | None = None

    # --- lifecycle -------------------------------------------------------------------

    @property
    def http(self) -> httpx.AsyncClient:
        # Created lazily so it binds to the event loop that serves requests.
        if self._http is None:
            self._http = httpx.AsyncClient(
                follow_redirects=True,
                limits=httpx.Limits(max_connections=self.config.max_concurrent_fetches * 2),
            )
        return self._http

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def reset(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
        self._jobs.clear()
        self._by_owner.clear()
        self._idempotency.clear()
        self.rate_limiter.reset()
        self.faults.reseed(self.config.fault_seed)
        self.jobs_by_key.clear()
        self.jobs_by_audio.clear()
        self.created.clear()
        self.counters = Counters()

    # --- submit ----------------------------------------------------------------------

    def submit(self, owner: str, submission: Submission, idempotency_key: str | None) -> tuple[Job, bool]:
        """(job, replayed). Synchronous on purpose: check-and-insert is atomic on the loop."""
        if idempotency_key is not None:
            if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
                raise ProblemError(400, "validation_error", f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} chars")
            previous = self._idempotency.get((owner, idempotency_key))
            if previous is not None:
                fingerprint, job_id = previous
                if fingerprint != submission.fingerprint:
                    self.counters.conflicts += 1
                    raise ProblemError(
                        409,
                        "idempotency_conflict",
                        "this Idempotency-Key was already used with a different request body",
                    )
                self.counters.idempotent_replays += 1
                return self._jobs[job_id], True

        job = self._new_job(owner, submission)
        if idempotency_key is not None:
            self._idempotency[(owner, idempotency_key)] = (submission.fingerprint, job.job_id)
        self.counters.jobs_created += 1
        audio = audio_identity(submission)
        self.created[job.job_id] = (idempotency_key, audio)
        if idempotency_key is not None:
            self.jobs_by_key[idempotency_key] += 1
        self.jobs_by_audio[audio] += 1
        if job.audio_url is not None and job.fetch_error is None:
            self._spawn(self._download(job))
        if job.options.webhook_url:
            self._spawn(self._webhook_when_done(job))
        return job, False

    def _new_job(self, owner: str, submission: Submission) -> Job:
        config = self.config
        name = (submission.audio_url or submission.filename or "").lower()
        slow = bool(config.slow_marker) and config.slow_marker.lower() in name
        job = Job(
            job_id="job_" + secrets.token_hex(12),
            owner=owner,
            created_wall=datetime.now(UTC),
            created_mono=time.monotonic(),
            latency_s=config.slow_latency_s if slow else config.latency_s,
            options=submission.options,
            audio_url=submission.audio_url,
            filename=submission.filename,
            audio=submission.audio,
            cancel=bool(config.cancel_marker) and config.cancel_marker.lower() in name,
        )
        if job.audio_url is not None:
            scheme = job.audio_url.split("://", 1)[0].lower()
            allowed = {"https", "http"} if config.allow_http_audio else {"https"}
            if scheme not in allowed:
                job.fetch_error = ("invalid_audio_url", f"audio_url must use https, got {scheme}://")
        self._jobs[job.job_id] = job
        self._by_owner.setdefault(owner, []).append(job)
        return job

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # keep a strong reference until done
        task.add_done_callback(self._tasks.discard)

    async def _download(self, job: Job) -> None:
        """The service fetching audio_url, as the vendor does right after accepting a job."""
        assert job.audio_url is not None
        if self._fetch_slots is None:
            self._fetch_slots = asyncio.Semaphore(self.config.max_concurrent_fetches)
        self.counters.audio_fetches += 1
        try:
            async with self._fetch_slots:
                response = await self.http.get(job.audio_url, timeout=self.config.audio_fetch_timeout_s)
            if response.status_code >= 400:
                job.fetch_error = ("audio_fetch_failed", f"fetching audio_url returned HTTP {response.status_code}")
            elif len(response.content) > self.config.max_audio_bytes:
                job.fetch_error = ("audio_too_large", f"audio exceeds {self.config.max_audio_bytes} bytes")
            else:
                job.audio = response.content
        except httpx.HTTPError as exc:
            job.fetch_error = ("audio_fetch_failed", f"could not fetch audio_url: {type(exc).__name__}: {exc}")
        if job.fetch_error is not None:
            self.counters.audio_fetch_failures += 1
        job.fetched_mono = time.monotonic()

    async def _webhook_when_done(self, job: Job) -> None:
        while (status := job.phase(time.monotonic(), self.config.queued_fraction)) in ("queued", "processing"):
            if job.audio is None and job.fetch_error is None:
                await asyncio.sleep(0.05)  # still downloading
            else:
                await asyncio.sleep(max(0.0, job.created_mono + job.latency_s - time.monotonic()))
        if status == DUE:
            await self.finalize(job)
        assert job.outcome is not None and job.options.webhook_url is not None
        ok = await deliver_webhook(
            self.http,
            job.options.webhook_url,
            {"job_id": job.job_id, "status": job.outcome.status},
            self.config.webhook_secret,
            self.config.webhook_timeout_s,
        )
        if ok:
            self.counters.webhooks_sent += 1
        else:
            self.counters.webhooks_failed += 1

    # --- read ------------------------------------------------------------------------

    def find(self, owner: str, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise ProblemError(404, "not_found", f"no job {job_id!r}")
        return job

    def find_any(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def status(self, job: Job) -> str:
        phase = job.phase(time.monotonic(), self.config.queued_fraction)
        if phase == DUE:
            return (await self.finalize(job)).status
        return phase

    async def finalize(self, job: Job) -> Outcome:
        """Build the outcome once; concurrent observers share the same work."""
        if job.outcome is not None:
            return job.outcome
        if job.finalizing is None:
            job.finalizing = asyncio.ensure_future(self._build(job))
        # shield: a client that hangs up must not cancel work other observers wait on.
        return await asyncio.shield(job.finalizing)

    async def _build(self, job: Job) -> Outcome:
        outcome = await asyncio.to_thread(build_outcome, job, self.config)
        job.outcome = outcome
        job.audio = None  # free memory: the transcript is cached, the audio is not needed
        return outcome

    def page(self, owner: str, limit: int, cursor: str | None) -> tuple[list[Job], str | None]:
        """Newest first. The cursor is the index (in creation order) of the next job to show."""
        jobs = self._by_owner.get(owner, [])
        start = len(jobs) - 1 if cursor is None else _decode_cursor(cursor, len(jobs))
        stop = max(start - limit, -1)
        selected = [jobs[i] for i in range(start, stop, -1)]
        next_cursor = _encode_cursor(stop) if stop >= 0 else None
        return selected, next_cursor

    async def stats(self) -> dict[str, Any]:
        # Finalizes due jobs so by_status shows what a client reading them would see.
        statuses = await asyncio.gather(*(self.status(job) for job in list(self._jobs.values())))
        by_status = dict.fromkeys(("queued", "processing", "completed", "failed", "cancelled"), 0)
        for status in statuses:
            by_status[status] += 1
        return {
            **asdict(self.counters),
            "jobs_total": len(statuses),
            "by_status": by_status,
            "faults_injected": self.faults.stats()["by_kind"],
            # Jobs beyond the first for one Idempotency-Key / one audio: must stay 0.
            "duplicate_jobs_by_key": sum(n - 1 for n in self.jobs_by_key.values() if n > 1),
            "duplicate_jobs_by_audio": sum(n - 1 for n in self.jobs_by_audio.values() if n > 1),
        }

    def job_counts(self) -> dict[str, Any]:
        """Jobs created per Idempotency-Key and per audio, each created job's key and audio, and the faults by route."""
        return {
            "by_idempotency_key": dict(self.jobs_by_key),
            "by_audio": dict(self.jobs_by_audio),
            "jobs": {job_id: {"idempotency_key": key, "audio": audio} for job_id, (key, audio) in self.created.items()},
            "faults": self.faults.stats(),
        }


def audio_identity(submission: Submission) -> str:
    """What a job transcribes: the uploaded bytes' digest, or the audio_url."""
    if submission.audio is not None:
        return "sha256:" + hashlib.sha256(submission.audio).hexdigest()
    return "url:" + (submission.audio_url or "")

def _encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"idx:{index}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, count: int) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, index_text = raw.split(":", 1)
        index = int(index_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(400, "validation_error", "cursor is invalid") from exc
    if prefix != "idx" or not 0 <= index < count:
        raise ProblemError(400, "validation_error", "cursor is invalid or expired")
    return index
