"""The ``pyai`` provider: PyAI Hear async jobs (hosted, or callmine's embedded engine).

Hostile answers end as one failed call with a reason, never a crashed batch or an endless wait:
- a submit answered with something that is not a job document -> ``Rejected`` (the next
  run re-sends the same Idempotency-Key and gets the job back if it did exist);
- a poll answered that way -> the job is ``failed`` with the reason (a retry of the
  trigger would poll the same broken answer until the deadline);
- a job document or result that is not JSON, or not the documented shape, or a result
  with words past the recording's end -> ``afetch`` raises (``UnusableAnswerError`` /
  ``TranscriptError``), which the stage step records as "result unusable: ...";
- a ``result_url`` or subtitle URL that is not https (see ``callmine.hooks.pyai``) -> refused.
"""

from __future__ import annotations

import asyncio
import mimetypes

import httpx
import msgspec

from callmine.dialects import pyai_hear as dialect
from callmine.errors import ProviderError, outcome_of
from callmine.hooks.pyai import PyAIHook, UnusableAnswerError, Upload
from callmine.providers.base import (
    AudioSource, Fatal, FetchedTranscript, JobRequest, JobsProvider, JobStatus, Rejected, RetryLater, SubmitOutcome,
    Submitted,
)
from callmine.providers.pyai_result import PyAIJob, PyAIResult, decode_job, normalize_pyai_result
from callmine.transcript import Diarization, TranscriptError


def job_error_text(error: object) -> str | None:
    """``error`` is a string or ``{code, message}``; make it one readable line."""
    if error is None or error == "":
        return None
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return f"{code}: {message}" if code and message else str(message or code or error)
    return str(error)


def _status_of(job: dict, job_id: str | None = None) -> JobStatus:
    """``job_id``: the id we asked about (a poll); without it the document must name its job (a submit)."""
    found = job.get("job_id")
    if job_id is None and not (isinstance(found, str) and found):
        raise UnusableAnswerError(f"the job document has no job_id (fields: {', '.join(sorted(job)[:10]) or 'none'})")
    status = job.get("status", "queued")
    return JobStatus(job_id=job_id or found, status=status if isinstance(status, str) else str(status),
                     error=job_error_text(job.get("error")))


class PyAIProvider(JobsProvider):
    name = "pyai"
    default_conn_id = "pyai_default"

    def __init__(self, conn_id: str | None = None, hook: PyAIHook | None = None) -> None:
        self.conn_id = conn_id or self.default_conn_id
        self.hook = hook or PyAIHook(self.conn_id)

    def submit_job(self, request: JobRequest, audio: AudioSource) -> SubmitOutcome:
        """Idempotent by the request's ``Idempotency-Key``: a replay answers with the existing job."""
        try:
            status = self.submit(request, audio)
        except UnusableAnswerError as exc:
            return Rejected(f"unusable answer from the service: {exc}")
        except ProviderError as exc:
            return outcome_of(exc, self.conn_id)
        return Submitted(status.job_id, status.status)

    async def apoll_job(self, client: httpx.AsyncClient, job_id: str) -> JobStatus | RetryLater | Fatal:
        try:
            return await self.apoll(client, job_id)
        except UnusableAnswerError as exc:
            return JobStatus(job_id, "failed", f"unusable answer from the service: {exc}")
        except ProviderError as exc:
            outcome = outcome_of(exc, self.conn_id)
            if exc.status == 404:  # a job we created is gone: that job failed, not the configuration
                return JobStatus(job_id, "failed", f"job {job_id} is unknown to the service")
            return outcome if isinstance(outcome, (RetryLater, Fatal)) else RetryLater(outcome.reason)
        except httpx.HTTPError as exc:
            return RetryLater(f"poll of job {job_id} failed: {type(exc).__name__}")

    def submit(self, request: JobRequest, audio: AudioSource) -> JobStatus:
        fields = {
            dialect.CHANNEL: request.diarization is Diarization.CHANNEL or None,
            dialect.DIARIZE: request.diarization is Diarization.MODEL or None,
            dialect.SPEAKERS_EXPECTED: request.speakers if request.diarization is Diarization.MODEL else None,
            dialect.OUTPUT_FORMATS: list(request.output_formats),
            dialect.LANGUAGE: request.language,
        }
        upload = None
        if audio.url is not None:
            fields[dialect.AUDIO_URL] = audio.url
        else:
            assert audio.content is not None
            content_type = mimetypes.guess_type(audio.filename)[0] or "application/octet-stream"
            upload = Upload(audio.filename, audio.content, content_type)
        job = self.hook.submit_job(fields, idempotency_key=request.idempotency_key, upload=upload)
        return _status_of(job)

    def async_client(self) -> httpx.AsyncClient:
        return self.hook.async_client()

    async def apoll(self, client: httpx.AsyncClient, job_id: str) -> JobStatus:
        return _status_of(await self.hook.aget_job_once(client, job_id), job_id)

    async def afetch(self, client: httpx.AsyncClient, job_id: str, diarization: Diarization,
                     duration_s: float | None = None) -> FetchedTranscript:
        """``duration_s``: the probed length of the recording; words past it (1 s tolerance) make
        the result unusable, and times are clipped to it. Without it, the result's own
        ``audio_seconds`` bounds the words (checked, never clipped)."""
        job = _decode_job(await self.hook.aget_job_bytes(client, job_id), job_id)
        result: PyAIResult | bytes
        if job.result is not None and job.result != PyAIResult():
            result = job.result
        elif job.result_url:
            # Large results are offloaded: an empty or absent `result` and a signed URL.
            result = await self.hook.afetch_signed(client, job.result_url, what=f"fetch result of job {job_id}")
        else:
            raise ProviderError(f"job {job_id} is {job.status} but has neither result nor result_url")
        try:
            transcript = normalize_pyai_result(result, diarization, duration_s=duration_s)
        except msgspec.DecodeError as exc:  # ValidationError too: it names the bad field
            raise TranscriptError(f"the result of job {job_id} is not a valid result document: {exc}") from exc
        fetched = await asyncio.gather(
            *(
                self.hook.afetch_signed(client, url, what=f"fetch {fmt} of job {job_id}")
                for fmt, url in transcript.subtitle_urls.items()
            )
        )
        return FetchedTranscript(
            transcript=transcript,
            subtitles=dict(zip(transcript.subtitle_urls, fetched)),
            billed_seconds=transcript.audio_seconds,
        )


def _decode_job(payload: bytes, job_id: str) -> PyAIJob:
    try:
        return decode_job(payload)
    except msgspec.DecodeError as exc:
        raise UnusableAnswerError(f"get job {job_id}: the job document is not valid ({exc}; "
                                  f"{len(payload)} bytes: {payload[:60]!r})") from exc
