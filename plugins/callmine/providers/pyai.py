"""The ``pyai`` provider: PyAI Hear async jobs (hosted, or callmine's embedded engine)."""

from __future__ import annotations

import asyncio
import mimetypes

import httpx

from callmine.dialects import pyai_hear as dialect
from callmine.errors import ProviderError, outcome_of
from callmine.hooks.pyai import PyAIHook, Upload
from callmine.providers.base import (
    AudioSource, Fatal, FetchedTranscript, JobRequest, JobsProvider, JobStatus, RetryLater, SubmitOutcome, Submitted,
)
from callmine.providers.pyai_result import PyAIResult, decode_job, normalize_pyai_result
from callmine.transcript import Diarization


def job_error_text(error: object) -> str | None:
    """``error`` is a string or ``{code, message}``; make it one readable line."""
    if error is None or error == "":
        return None
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return f"{code}: {message}" if code and message else str(message or code or error)
    return str(error)


def _status_of(job: dict) -> JobStatus:
    return JobStatus(job_id=job["job_id"], status=job.get("status", "queued"), error=job_error_text(job.get("error")))


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
        except ProviderError as exc:
            return outcome_of(exc, self.conn_id)
        return Submitted(status.job_id, status.status)

    async def apoll_job(self, client: httpx.AsyncClient, job_id: str) -> JobStatus | RetryLater | Fatal:
        try:
            return await self.apoll(client, job_id)
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
        return _status_of(await self.hook.aget_job_once(client, job_id))

    async def afetch(self, client: httpx.AsyncClient, job_id: str, diarization: Diarization) -> FetchedTranscript:
        job = decode_job(await self.hook.aget_job_bytes(client, job_id))
        result: PyAIResult | bytes
        if job.result is not None and job.result != PyAIResult():
            result = job.result
        elif job.result_url:
            # Large results are offloaded: an empty or absent `result` and a signed URL.
            result = await self.hook.afetch_signed(client, job.result_url, what=f"fetch result of job {job_id}")
        else:
            raise ProviderError(f"job {job_id} is {job.status} but has neither result nor result_url")
        transcript = normalize_pyai_result(result, diarization)
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
