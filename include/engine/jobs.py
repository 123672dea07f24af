"""The engine: accepts jobs, schedules them on worker processes, finalizes, notifies.

Scheduling is N asyncio slots (N = workers), each owning one worker process. A slot claims
the oldest queued job from SQLite (status -> processing, attempts + 1), makes the audio
available as a local file (upload, file:// path, or http(s) download), runs it on its
worker, then records the outcome and deletes any audio copy the engine made.

Restart semantics: jobs found `processing` at start were interrupted and go back to
`queued`; each claim counts an attempt and a job claimed after `max_attempts` attempts
fails with `too_many_attempts` instead of running again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from .config import EngineConfig
from .outbound import AddressPolicy, FetchFailed, guarded_client, open_following_redirects
from .problems import ProblemError
from .signing import load_or_create_secret, signed_path
from .store import TERMINAL, JobRow, JobStore, new_job_id
from .submission import Submission
from .webhooks import deliver
from .workers import Worker
from .results import result_dir
from .sources import FETCH_FAILED, SourceRefused, resolve_file_url

log = logging.getLogger("callmine.engine")
MAX_IDEMPOTENCY_KEY = 255


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
        self.store = JobStore(self.data_dir / "engine.sqlite3")
        self.signing_secret = load_or_create_secret(self.data_dir / "url_signing.secret")
        self.webhook_secret = config.webhook_secret or load_or_create_secret(self.data_dir / "webhook.secret")
        self._wake = asyncio.Event()
        self._slots: list[asyncio.Task[None]] = []
        self._workers: list[Worker] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._http: httpx.AsyncClient | None = None

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        requeued = self.store.requeue_interrupted()
        if requeued:
            log.warning("re-queued %d job(s) interrupted by the last shutdown", requeued)
        for stale in self.audio_dir.glob("upload_*.part"):
            stale.unlink(missing_ok=True)  # uploads whose request never created a job
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
        if self._http is not None:
            await self._http.aclose()
        self.store.close()

    def link(self, kind: str, job_id: str) -> str:
        path = signed_path(kind, job_id, self.signing_secret, self.config.signed_url_ttl_s)
        return self.config.base_url + path

    # --- submit -------------------------------------------------------------------------------

    def submit(self, owner: str, submission: Submission, idempotency_key: str | None) -> tuple[JobRow, bool]:
        """(job, replayed). No await inside: check-and-insert is atomic on the event loop."""
        if idempotency_key is not None:
            if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
                submission.discard_upload()
                raise ProblemError(400, "validation_error", f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} chars")
            previous = self.store.by_idempotency_key(owner, idempotency_key)
            if previous is not None:
                submission.discard_upload()
                if previous.fingerprint != submission.fingerprint:
                    raise ProblemError(409, "idempotency_conflict",
                                       "this Idempotency-Key was already used with a different request body")
                return previous, True
        job_id = new_job_id()
        audio_path = None
        if submission.upload_path is not None:
            # Keep the client's file name (sanitized): processors may use the extension as a hint.
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", submission.filename or "audio")[-100:]
            final = self.audio_dir / f"{job_id}_{safe}"
            submission.upload_path.replace(final)
            audio_path = str(final)
        job = self.store.insert(
            job_id=job_id, owner=owner, options=submission.options, audio_url=submission.audio_url,
            filename=submission.filename, audio_path=audio_path, idempotency_key=idempotency_key,
            fingerprint=submission.fingerprint,
        )
        self._wake.set()
        return job, False

    # --- scheduling ---------------------------------------------------------------------------

    async def _slot(self, worker: Worker) -> None:
        while True:
            try:
                job = self.store.claim_next()
            except Exception:
                log.exception("could not claim a job")
                job = None
            if job is None:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=2.0)
                except TimeoutError:
                    pass
                continue
            try:
                await self._process(worker, job)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one job take a slot down
                log.exception("job %s: unexpected engine error", job.job_id)
                self._finish_failed(job, "internal_error", "internal engine error (details in the engine's log)")

    async def _process(self, worker: Worker, job: JobRow) -> None:
        if job.attempts > self.config.max_attempts:
            self._finish_failed(job, "too_many_attempts",
                                f"gave up after {self.config.max_attempts} attempts: processing was interrupted "
                                "each time (service restart or worker crash)")
            return
        try:
            path = await self._local_audio(job)
        except FetchError as exc:
            self._finish_failed(job, exc.code, exc.message)
            return
        task = {
            "processor": self.config.processor,
            "audio_path": str(path),
            "out_dir": str(result_dir(self.data_dir, job.job_id)),
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
            self.store.complete(job.job_id, outcome["audio_seconds"], outcome["result_bytes"], outcome["formats"])
            self._after_terminal(job, "completed")
        else:
            shutil.rmtree(result_dir(self.data_dir, job.job_id), ignore_errors=True)
            self._finish_failed(job, outcome["code"], outcome["message"], audio_path=path)

    def _finish_failed(self, job: JobRow, code: str, message: str, audio_path: Path | None = None) -> None:
        log.info("job %s failed: %s", job.job_id, message)
        paths = [p for p in (audio_path, job.audio_path) if p]
        self.store.fail(job.job_id, code, scrub(message, self.data_dir, *paths))
        self._after_terminal(job, "failed")

    def _after_terminal(self, job: JobRow, status: str) -> None:
        # Input is never kept: delete the engine's own copy (upload or download), never a file:// source.
        if job.audio_path:
            Path(job.audio_path).unlink(missing_ok=True)
        (self.audio_dir / f"{job.job_id}.download").unlink(missing_ok=True)
        url = job.options.get("webhook_url")
        if url and self._http is not None:
            coro = deliver(self._http, url, {"job_id": job.job_id, "status": status}, self.webhook_secret,
                           timeout_s=self.config.webhook_timeout_s, attempts=self.config.webhook_attempts)
            task = asyncio.create_task(coro)
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # --- audio --------------------------------------------------------------------------------

    async def _local_audio(self, job: JobRow) -> Path:
        limit = self.config.max_upload_bytes
        if job.audio_path:
            path = Path(job.audio_path)
            if not path.exists():
                raise FetchError("audio_missing", "uploaded audio is missing")
            return path
        assert job.audio_url is not None
        if urlsplit(job.audio_url).scheme.lower() == "file":
            # Checked at submit; checked again: the file system may have changed since.
            try:
                path = resolve_file_url(job.audio_url, self.config.file_roots_in_force(), self.data_dir)
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
        self.store.set_audio_path(job.job_id, str(target))
        job.audio_path = str(target)
        return target

    # --- introspection ------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        counts = self.store.count_by_status()
        return {"status": "ok", "workers": self.config.workers, "jobs": counts,
                "pending": sum(v for k, v in counts.items() if k not in TERMINAL), "pid": os.getpid()}
