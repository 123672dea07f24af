"""The engine: accepts jobs, schedules them on worker processes, finalizes, notifies.

Scheduling is N asyncio slots (N = workers), each owning one worker process. A slot claims
the oldest queued job from the job store (status -> processing, attempts + 1), makes the
audio available as a local file (upload, file:// path, or http(s) download), runs it on its
worker, then records the outcome and deletes any audio copy the engine made.

Restart semantics: jobs found `processing` at start were interrupted and go back to
`queued`; each claim counts an attempt and a job claimed after `max_attempts` attempts
fails with `too_many_attempts` instead of running again.

Several engines (a PostgreSQL queue, store.open_store; shared storage, storage.py): a claim
is a lease the slot renews while the job runs; a job whose engine died goes back to the
queue when its lease expires, and a restarted engine re-queues its own interrupted jobs at
once. Outcomes are fenced by the claim: an engine that lost its lease drops its work
instead of overwriting the outcome of the engine that took the job over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from .config import EngineConfig
from .outbound import AddressPolicy, FetchFailed, guarded_client, open_following_redirects
from .problems import ProblemError
from .signing import load_or_create_secret, signed_path
from .store import TERMINAL, DuplicateIdempotencyKey, JobRow, new_job_id, open_store
from .storage import open_storage, redact_url
from .submission import Submission
from .webhooks import deliver
from .workers import Worker
from .sources import FETCH_FAILED, SourceRefused, resolve_file_url

log = logging.getLogger("callmine.engine")
MAX_IDEMPOTENCY_KEY = 255
IDLE_POLL_S = 2.0  # an idle slot looks at the queue at least this often (submits and NOTIFY wake it sooner)
T = TypeVar("T")


class LeaseLost(Exception):
    """Another engine took this job over (our lease expired): drop the work, record nothing."""


class FetchError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _mb(size: int) -> str:
    return f"{size / 1048576:.1f} MB"


_QUOTED_PATH = re.compile(r"(['\"])/[^'\"]*\1")
_BARE_PATH = re.compile(r"(?<![\w:/.])/(?:[\w.@+-]+/)+[\w.@+-]*")


def scrub(message: str, data_dir: Path, *paths: str | Path) -> str:
    """A job error text without internal paths or file names (the audio copy, the data dir, anything absolute)."""
    full: dict[str, str] = {}
    for base in (str(data_dir), str(data_dir.resolve())):
        full[base] = "<data>"
    names: set[str] = set()
    for p in paths:
        for variant in (str(p), os.path.realpath(p)):
            full[variant] = "<audio>"
            names.add(os.path.basename(variant))
    for text in sorted((t for t in full if t and t != "/"), key=len, reverse=True):
        message = message.replace(text, full[text])
    for name in names - {""}:
        message = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", "<audio>", message)
    message = _QUOTED_PATH.sub(lambda m: f"{m.group(1)}<path>{m.group(1)}", message)
    return _BARE_PATH.sub("<path>", message)


class Engine:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir
        self.audio_dir = self.data_dir / "audio"
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "results").mkdir(parents=True, exist_ok=True)
        self.instance = config.instance_id_in_force()
        self.store = open_store(config)
        self.storage = open_storage(config.storage_url, self.data_dir)
        if self.store.shared:  # every engine of the queue signs and verifies with the same secrets
            self.signing_secret = self.store.shared_secret("url_signing") or ""
            self.webhook_secret = config.webhook_secret or self.store.shared_secret("webhook") or ""
        else:
            self.signing_secret = load_or_create_secret(self.data_dir / "url_signing.secret")
            self.webhook_secret = config.webhook_secret or load_or_create_secret(self.data_dir / "webhook.secret")
        self._wake = asyncio.Event()
        self._slots: list[asyncio.Task[None]] = []
        self._workers: list[Worker] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_listening: Callable[[], None] | None = None
        # A remote store's scheduling calls (claims, lease renewals, outcomes) run on this one thread,
        # never on the event loop; the API's reads stay on the loop (short indexed statements).
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="engine-db") if self.store.remote else None

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        if self._db_thread is None:
            return fn(*args)  # SQLite: on the loop, as always
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn, *args)

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        requeued = await self._db(self.store.requeue_interrupted)
        if requeued:
            log.warning("re-queued %d job(s) interrupted by the last shutdown", requeued)
        for stale in self.audio_dir.glob("upload_*.part"):
            stale.unlink(missing_ok=True)  # uploads whose request never created a job
        if self.storage.shared:
            # Audio copies and work dirs of jobs this engine was running when it died: the jobs are
            # back in the shared queue (possibly done elsewhere already), nothing here is needed.
            for stale in self.audio_dir.glob("*.download"):
                stale.unlink(missing_ok=True)
            self.storage.clean_local_leftovers()
        if self.store.shared:
            log.info("engine %s on the shared queue %s (lease %.0f s), storage %s", self.instance,
                     redact_url(self.config.queue_url or ""), self.store.lease_s, self.storage.describe())
            self._stop_listening = self.store.listen(self._wake_threadsafe)
            self._spawn_background(self._reap_expired_leases())
        # Audio downloads and webhooks: never to loopback/private/link-local/... unless allowed (outbound.py).
        policy = AddressPolicy(self.config.allow_private_urls, self.config.allowed_networks)
        self._http = guarded_client(policy)
        for index in range(self.config.workers):
            worker = Worker(self.config.max_tasks_per_child)
            self._workers.append(worker)
            self._slots.append(asyncio.create_task(self._slot(worker), name=f"engine-slot-{index}"))

    async def stop(self) -> None:
        for task in self._slots + list(self._background):
            task.cancel()
        await asyncio.gather(*self._slots, *self._background, return_exceptions=True)
        for worker in self._workers:
            worker.stop()  # jobs still `processing` are re-queued on the next start
        if self._stop_listening is not None:
            self._stop_listening()
        if self.store.shared:
            try:  # a shared queue: hand our jobs to the other engines now rather than at lease expiry
                released = await self._db(self.store.release_claims)
                if released:
                    log.warning("handed %d interrupted job(s) back to the shared queue", released)
            except Exception:
                log.exception("could not hand jobs back to the queue (they return when their lease expires)")
        if self._http is not None:
            await self._http.aclose()
        if self._db_thread is not None:
            self._db_thread.shutdown(wait=True)
        self.store.close()

    def _wake_threadsafe(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake.set)

    def _spawn_background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reap_expired_leases(self) -> None:
        """Shared queue: jobs of engines that stopped renewing go back to `queued` (claims take them anyway)."""
        interval = max(1.0, self.store.lease_s or 60.0)
        while True:
            await asyncio.sleep(interval)
            try:
                count = await self._db(self.store.requeue_expired)
            except Exception:
                log.exception("could not re-queue expired leases")
                continue
            if count:
                log.warning("re-queued %d job(s) whose engine stopped renewing its lease", count)

    def link(self, kind: str, job_id: str) -> str:
        path = signed_path(kind, job_id, self.signing_secret, self.config.signed_url_ttl_s)
        return self.config.base_url + path

    # --- submit -------------------------------------------------------------------------------

    async def submit(self, owner: str, submission: Submission, idempotency_key: str | None) -> tuple[JobRow, bool]:
        """(job, replayed).

        With the default store and storage nothing in here suspends, so check-and-insert is atomic
        on the event loop. A shared queue can see the same Idempotency-Key on two engines at once:
        the store's unique constraint decides, and the loser answers as a replay (or 409)."""
        if idempotency_key is not None:
            if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
                submission.discard_upload()
                raise ProblemError(400, "validation_error", f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} chars")
            previous = self.store.by_idempotency_key(owner, idempotency_key)
            if previous is not None:
                submission.discard_upload()
                return self._replay(previous, submission)
        job_id = new_job_id()
        audio_path = None
        if submission.upload_path is not None:
            # Keep the client's file name (sanitized): processors may use the extension as a hint.
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", submission.filename or "audio")[-100:]
            try:
                audio_path = await self.storage.put_audio(submission.upload_path, f"{job_id}_{safe}")
            except BaseException:
                submission.discard_upload()
                raise
        try:
            job = self.store.insert(
                job_id=job_id, owner=owner, options=submission.options, audio_url=submission.audio_url,
                filename=submission.filename, audio_path=audio_path, idempotency_key=idempotency_key,
                fingerprint=submission.fingerprint,
            )
        except DuplicateIdempotencyKey:
            if audio_path is not None:
                await self.storage.drop_audio(audio_path)
            assert idempotency_key is not None
            previous = self.store.by_idempotency_key(owner, idempotency_key)
            assert previous is not None
            return self._replay(previous, submission)
        except BaseException:
            if audio_path is not None:
                await self.storage.drop_audio(audio_path)
            raise
        self._wake.set()
        return job, False

    @staticmethod
    def _replay(previous: JobRow, submission: Submission) -> tuple[JobRow, bool]:
        if previous.fingerprint != submission.fingerprint:
            raise ProblemError(409, "idempotency_conflict",
                               "this Idempotency-Key was already used with a different request body")
        return previous, True

    # --- scheduling ---------------------------------------------------------------------------

    async def _slot(self, worker: Worker) -> None:
        while True:
            # Cleared before the claim: a submit (or a NOTIFY) arriving while the claim is on its way
            # leaves the event set, so an empty claim is retried at once instead of after the poll.
            self._wake.clear()
            try:
                job = await self._db(self.store.claim_next)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not claim a job")
                job = None
            if job is None:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=IDLE_POLL_S)
                except TimeoutError:
                    pass
                continue
            await self._run_claimed(worker, job)

    async def _run_claimed(self, worker: Worker, job: JobRow) -> None:
        """Process a claimed job; with leases, renew ours meanwhile and drop the work if it is lost."""
        lease_s = self.store.lease_s
        if not lease_s:
            await self._guarded(worker, job)
            return
        work = asyncio.create_task(self._guarded(worker, job))
        lost = False

        async def keep_lease() -> None:
            nonlocal lost
            interval = max(0.2, lease_s / 3)
            while True:
                await asyncio.sleep(interval)
                try:
                    ours = await self._db(self.store.renew, job.job_id, job.attempts)
                except Exception as exc:  # the database is unreachable: keep working, the fence decides later
                    log.warning("job %s: could not renew the lease (%s)", job.job_id, type(exc).__name__)
                    continue
                if not ours:
                    lost = True
                    work.cancel()
                    return

        beat = asyncio.create_task(keep_lease())
        try:
            await work
        except asyncio.CancelledError:
            if not lost:
                raise  # the engine is stopping
            log.warning("job %s: lease lost (another engine took the job over); dropped this attempt", job.job_id)
            await self._abandon(worker, job)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _abandon(self, worker: Worker, job: JobRow) -> None:
        worker.stop()  # it may still be processing the job
        (self.audio_dir / f"{job.job_id}.download").unlink(missing_ok=True)
        if self.storage.shared:
            await self.storage.discard(job.job_id, self.storage.work_dir(job.job_id, job.attempts))

    async def _guarded(self, worker: Worker, job: JobRow) -> None:
        try:
            await self._process(worker, job)
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            log.warning("job %s: lease lost before its outcome was recorded; dropped this attempt", job.job_id)
            await self._abandon(worker, job)
        except Exception:  # never let one job take a slot down
            log.exception("job %s: unexpected engine error", job.job_id)
            try:
                await self._finish_failed(job, "internal_error", "internal engine error (details in the engine's log)")
            except LeaseLost:
                pass
            except Exception:
                log.exception("job %s: could not record the failure", job.job_id)

    async def _process(self, worker: Worker, job: JobRow) -> None:
        if job.attempts > self.config.max_attempts:
            await self._finish_failed(job, "too_many_attempts",
                                      f"gave up after {self.config.max_attempts} attempts: processing was interrupted "
                                      "each time (service restart or worker crash)")
            return
        try:
            path = await self._local_audio(job)
        except FetchError as exc:
            await self._finish_failed(job, exc.code, exc.message)
            return
        out_dir = self.storage.work_dir(job.job_id, job.attempts)
        task = {
            "processor": self.config.processor,
            "audio_path": str(path),
            "out_dir": str(out_dir),
            "model_dir": str(self.config.model_dir_in_force().resolve()),  # every model cache under it
            "options": {
                "channel": job.options["channel"],
                "diarize": job.options["diarize"],
                "speakers": job.options["speakers_expected"] or 2,
                "model": job.options["model"],
                "language": job.options["language"],
                "output_formats": tuple(job.options["output_formats"]),
            },
        }
        log.info("job %s: processing (attempt %d)", job.job_id, job.attempts)
        outcome = await worker.run(task, timeout_s=self.config.job_timeout_s)
        if outcome["ok"]:
            if self.store.lease_s and not await self._db(self.store.renew, job.job_id, job.attempts):
                raise LeaseLost(job.job_id)  # do not publish over the results of the engine that took over
            await self.storage.publish(job.job_id, out_dir)
            if not await self._db(self.store.complete, job.job_id, outcome["audio_seconds"], outcome["result_bytes"],
                                  outcome["formats"], job.attempts):
                raise LeaseLost(job.job_id)
            await self._after_terminal(job, "completed")
        else:
            await self.storage.discard(job.job_id, out_dir)
            await self._finish_failed(job, outcome["code"], outcome["message"], audio_path=path)

    async def _finish_failed(self, job: JobRow, code: str, message: str, audio_path: Path | None = None) -> None:
        log.info("job %s failed: %s", job.job_id, message)
        paths = [p for p in (audio_path, job.audio_path) if p]
        if not await self._db(self.store.fail, job.job_id, code, scrub(message, self.data_dir, *paths), job.attempts):
            raise LeaseLost(job.job_id)
        await self._after_terminal(job, "failed")

    async def _after_terminal(self, job: JobRow, status: str) -> None:
        # Input is never kept: delete the engine's own copy (upload or download), never a file:// source.
        if job.audio_path:
            try:
                await self.storage.drop_audio(job.audio_path)
            except Exception:
                log.exception("job %s: could not delete its uploaded audio", job.job_id)
        (self.audio_dir / f"{job.job_id}.download").unlink(missing_ok=True)
        url = job.options.get("webhook_url")
        if url and self._http is not None:
            coro = deliver(self._http, url, {"job_id": job.job_id, "status": status}, self.webhook_secret,
                           timeout_s=self.config.webhook_timeout_s, attempts=self.config.webhook_attempts)
            self._spawn_background(coro)

    # --- audio --------------------------------------------------------------------------------

    async def _local_audio(self, job: JobRow) -> Path:
        limit = self.config.max_upload_bytes
        if job.audio_path:
            local = await self.storage.local_audio(job.audio_path, self.audio_dir / f"{job.job_id}.download")
            if local is None:
                raise FetchError("audio_missing", "uploaded audio is missing")
            return local
        assert job.audio_url is not None
        if urlsplit(job.audio_url).scheme.lower() == "file":
            # Checked at submit; checked again: the file system may have changed since.
            try:
                path = resolve_file_url(job.audio_url, self.config.file_roots_in_force(), self.data_dir,
                                        self.config.private_dirs())
            except SourceRefused:
                raise FetchError("audio_fetch_failed", FETCH_FAILED) from None
            size = path.stat().st_size
            if size > limit:
                raise FetchError("audio_too_large", f"audio too large ({_mb(size)} > {_mb(limit)})")
            return path
        return await self._download(job, limit)

    async def _download(self, job: JobRow, limit: int) -> Path:
        """Stream an http(s) audio_url to the data dir: guarded hops, timeouts, size limit while streaming.

        Every failure but 'too large' gets the one FETCH_FAILED text (the reason goes to the log).
        """
        assert self._http is not None and job.audio_url is not None
        cfg = self.config
        target = self.audio_dir / f"{job.job_id}.download"
        timeout = httpx.Timeout(cfg.fetch_timeout_s, connect=cfg.fetch_connect_timeout_s)
        size = 0
        try:
            async with asyncio.timeout(cfg.fetch_total_timeout_s):
                response = await open_following_redirects(self._http, job.audio_url, max_redirects=cfg.max_redirects,
                                                          timeout=timeout)
                try:
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        raise FetchError("audio_too_large", f"audio too large ({_mb(int(declared))} > {_mb(limit)})")
                    with target.open("wb") as out:
                        async for chunk in response.aiter_bytes(1 << 20):
                            size += len(chunk)
                            if size > limit:
                                raise FetchError("audio_too_large", f"audio too large: more than the {_mb(limit)} limit")
                            await asyncio.to_thread(out.write, chunk)
                finally:
                    await response.aclose()
        except FetchError:
            target.unlink(missing_ok=True)
            raise
        except FetchFailed as exc:
            target.unlink(missing_ok=True)
            log.info("job %s: audio_url fetch failed: %s", job.job_id, exc.reason)
            raise FetchError("audio_fetch_failed", FETCH_FAILED) from None
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            target.unlink(missing_ok=True)
            log.info("job %s: audio_url fetch failed: %s", job.job_id, type(exc).__name__)
            raise FetchError("audio_fetch_failed", FETCH_FAILED) from None
        if not self.storage.shared:  # the data dir layout: a restart finds the download again
            self.store.set_audio_path(job.job_id, str(target))
            job.audio_path = str(target)
        return target  # shared storage: a local copy only this engine has; removed when the job ends

    # --- introspection ------------------------------------------------------------------------

    async def read_result(self, job_id: str, kind: str) -> str:
        """A completed job's result file (``result`` = the JSON document, ``srt``, ``vtt``) from the storage."""
        return await self.storage.read(job_id, kind)

    def health(self) -> dict[str, Any]:
        counts = self.store.count_by_status()
        doc = {"status": "ok", "workers": self.config.workers, "jobs": counts,
               "pending": sum(v for k, v in counts.items() if k not in TERMINAL), "pid": os.getpid()}
        if self.store.shared:
            doc.update({"queue": self.store.kind, "instance": self.instance})
        return doc
