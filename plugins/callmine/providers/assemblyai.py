"""The ``assemblyai`` provider: AssemblyAI v2 async transcripts (``/v2/upload``, ``/v2/transcript``).

Idempotency: AssemblyAI has no idempotency key. The submit operator records each job id
the moment it exists; on top of that, a URL recording is first looked up among recent
transcripts by ``audio_url`` (``find_job``), and a create retried after an ambiguous
failure (5xx, read timeout) checks the same way before sending again.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec

from callmine.errors import ProviderError, outcome_of
from callmine.hooks.assemblyai import SUBTITLE_FORMATS, AssemblyAIConfigError, AssemblyAIHook
from callmine.providers.assemblyai_result import decode_status, decode_transcript, normalize_assemblyai
from callmine.providers.base import (
    AudioSource, Fatal, FetchedTranscript, JobRequest, JobsProvider, JobStatus, Rejected, RetryLater,
    SubmitOutcome, Submitted,
)
from callmine.transcript import Diarization

# AssemblyAI status -> the pipeline's (TERMINAL is completed / failed / cancelled).
_STATUS = {"queued": "queued", "processing": "processing", "completed": "completed", "error": "failed"}
# A 400 mentioning one of these is about our configuration (key, model), not the recording.
_KEY_HINT = "check the API key (the password) of the Airflow connection {conn_id!r}"
_CONFIG_HINTS = {"api token": _KEY_HINT, "api key": _KEY_HINT, "authentication": _KEY_HINT,
                 "speech_model": "check the speech model configured for the assemblyai provider"}


def pipeline_status(status: str | None) -> str:
    return _STATUS.get(status or "queued", status or "queued")


def language_code(language: str) -> str:
    """``en`` / ``en-US`` -> ``en`` / ``en_us`` (AssemblyAI's codes are lower case with ``_``)."""
    return language.strip().lower().replace("-", "_")


class AssemblyAIProvider(JobsProvider):
    name = "assemblyai"
    default_conn_id = "assemblyai_default"

    def __init__(
        self,
        conn_id: str | None = None,
        hook: AssemblyAIHook | None = None,
        *,
        speech_model: str | None = None,
        speech_models: list[str] | None = None,
        reuse_by_url: bool = True,
        find_pages: int = 3,
        page_size: int = 100,
    ) -> None:
        self.conn_id = conn_id or (hook.conn_id if hook is not None else self.default_conn_id)
        self.hook = hook or AssemblyAIHook(self.conn_id)
        self.speech_model = speech_model
        self.speech_models = list(speech_models) if speech_models else None
        self.reuse_by_url = reuse_by_url
        self.find_pages = find_pages
        self.page_size = page_size

    # -- submit (worker) ------------------------------------------------------------------
    def transcript_body(self, request: JobRequest, audio_url: str) -> dict[str, Any]:
        """The ``POST /v2/transcript`` body for one recording."""
        body: dict[str, Any] = {"audio_url": audio_url}
        if request.diarization is Diarization.CHANNEL:
            body["multichannel"] = True  # never with speaker_labels: AssemblyAI answers 400
        elif request.diarization is Diarization.MODEL:
            body["speaker_labels"] = True
            if request.speakers and request.speakers > 0:
                body["speakers_expected"] = request.speakers
        if request.language:
            body["language_code"] = language_code(request.language)
        else:
            body["language_detection"] = True
        if self.speech_models:  # the newer list form wins when both are configured
            body["speech_models"] = self.speech_models
        elif self.speech_model:
            body["speech_model"] = self.speech_model
        return body

    def submit_job(self, request: JobRequest, audio: AudioSource) -> SubmitOutcome:
        try:
            if audio.url and audio.url.startswith(("http://", "https://")):
                audio_url = audio.url
                existing = self._find(audio_url) if self.reuse_by_url else None
                if existing is not None:
                    return Submitted(existing["id"], pipeline_status(existing.get("status")))
            elif audio.content is not None:
                audio_url = self.hook.upload(audio.content)
            else:
                return Rejected(f"{audio.filename}: no audio to send (neither an http(s) URL nor content)")
            created = self.hook.create_transcript(
                self.transcript_body(request, audio_url), already_created=lambda: self._find(audio_url, pages=1),
            )
        except AssemblyAIConfigError as exc:
            return Fatal(str(exc))
        except ProviderError as exc:
            return self._configuration_error(exc) or outcome_of(exc, self.conn_id)
        return Submitted(created["id"], pipeline_status(created.get("status")))

    def _configuration_error(self, exc: ProviderError) -> Fatal | None:
        if exc.status != 400:
            return None
        hint = next((v for k, v in _CONFIG_HINTS.items() if k in str(exc).lower()), None)
        return Fatal(f"{exc} — {hint.format(conn_id=self.conn_id)}") if hint else None

    def find_job(self, audio_url: str, *, pages: int | None = None) -> str | None:
        """The id of a recent transcript of ``audio_url`` (newest first, failed ones skipped), or None.

        Pages the list endpoint with the ``before_id`` cursor, at most ``pages`` pages.
        """
        found = self._find(audio_url, pages=pages)
        return found["id"] if found is not None else None

    def _find(self, audio_url: str, *, pages: int | None = None) -> dict[str, Any] | None:
        before_id: str | None = None
        for _ in range(pages or self.find_pages):
            page = self.hook.list_transcripts(limit=self.page_size, before_id=before_id)
            items = page.get("transcripts") or []
            for item in items:
                # A failed job is resubmitted, as AssemblyAI advises, rather than reused.
                if item.get("audio_url") == audio_url and item.get("status") != "error":
                    return item
            before_id = _older_cursor(page.get("page_details") or {}, items)
            if before_id is None:
                return None
        return None

    # -- poll / fetch (triggerer, stage) --------------------------------------------------------
    def async_client(self) -> httpx.AsyncClient:
        return self.hook.async_client()

    async def apoll_job(self, client: httpx.AsyncClient, job_id: str) -> JobStatus | RetryLater | Fatal:
        try:
            doc = decode_status(await self.hook.aget_transcript(client, job_id))
        except AssemblyAIConfigError as exc:
            return Fatal(str(exc))
        except ProviderError as exc:
            if exc.status in (400, 404):  # a job we created is unknown: that job failed, not the setup
                return JobStatus(job_id, "failed", f"transcript {job_id} is unknown to AssemblyAI: {exc}")
            outcome = outcome_of(exc, self.conn_id)
            return outcome if isinstance(outcome, (RetryLater, Fatal)) else RetryLater(outcome.reason)
        except msgspec.DecodeError as exc:  # a proxy's HTML page, a truncated body: try again next round
            return RetryLater(f"transcript {job_id}: unreadable answer ({exc})")
        # A failed transcript is HTTP 200 with status "error" and the reason in "error".
        return JobStatus(job_id, pipeline_status(doc.status), doc.error if doc.status == "error" else None)

    async def afetch(self, client: httpx.AsyncClient, job_id: str, diarization: Diarization,
                     duration_s: float | None = None) -> FetchedTranscript:
        try:
            doc = decode_transcript(await self.hook.aget_transcript(client, job_id))
        except msgspec.DecodeError as exc:
            raise ProviderError(f"transcript {job_id}: malformed answer: {exc}") from None
        if doc.status != "completed":
            raise ProviderError(f"transcript {job_id} is {doc.status}" + (f": {doc.error}" if doc.error else ""))
        transcript = normalize_assemblyai(doc, diarization, duration_s)
        subtitles: dict[str, bytes] = {}
        if doc.words:  # a transcript without words has no captions to export
            fetched = await asyncio.gather(*(self.hook.aget_subtitles(client, job_id, fmt) for fmt in SUBTITLE_FORMATS))
            subtitles = dict(zip(SUBTITLE_FORMATS, fetched))
        # audio_duration is in seconds (the API reference); AssemblyAI bills by audio duration.
        return FetchedTranscript(transcript=transcript, subtitles=subtitles, billed_seconds=doc.audio_duration)

    # -- after load -----------------------------------------------------------------------------
    def delete_job(self, job_id: str) -> None:
        """Remove the transcript's data at AssemblyAI; an already gone transcript is fine."""
        try:
            self.hook.delete_transcript(job_id)
        except ProviderError as exc:
            if exc.status != 404:
                raise


def _older_cursor(details: dict[str, Any], items: list[dict[str, Any]]) -> str | None:
    """``before_id`` of the next older page: from ``prev_url`` (which "always points to older
    transcripts"), else the oldest id on this page; None when there is nothing older."""
    if not items:
        return None
    prev_url = details.get("prev_url")
    if prev_url:
        before = parse_qs(urlsplit(prev_url).query).get("before_id")
        if before:
            return before[0]
    if "prev_url" in details:  # present and null: this was the oldest page
        return None
    return items[-1].get("id")
