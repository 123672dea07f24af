"""The one contract every speech provider plugs in behind.

A provider owns its service's HTTP (through its hook) and speaks **domain outcomes** to
the pipeline, never HTTP status codes: ``Submitted`` (a job id), ``Rejected`` (this
recording cannot be transcribed: a failed call, not retried), ``RetryLater`` (outage,
429, 5xx, timeout: try again, after ``after_s`` when the service said), ``Fatal`` (bad
key, no credit, missing scope: the task fails at once, retries cannot help).

Two kinds:
- ``JobsProvider`` (PyAI Hear, AssemblyAI): submit from a worker, poll from the
  triggerer, fetch the finished job as a canonical ``Transcript``.
- ``RequestProvider`` (CallMissed, OpenAI-compatible ``/v1/audio/transcriptions``): the
  request itself is the wait, so it runs inside the trigger; its raw answer (JSON) is
  staged and ``parse`` turns it into a ``FetchedTranscript`` in the stage step.
Every transcript is built by ``callmine.transcript.build_transcript`` (validated once).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import httpx

from callmine.transcript import Diarization, Transcript

TERMINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True, slots=True)
class AudioSource:
    """Where the provider gets the audio: a URL it can fetch, or bytes we upload."""

    filename: str
    url: str | None = None
    content: bytes | None = None


@dataclass(frozen=True, slots=True)
class JobRequest:
    call_id: str
    diarization: Diarization
    speakers: int
    idempotency_key: str
    output_formats: tuple[str, ...] = ("json", "srt", "vtt")
    language: str | None = None


@dataclass(frozen=True, slots=True)
class JobStatus:
    job_id: str
    status: str
    error: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(slots=True)
class FetchedTranscript:
    transcript: Transcript
    subtitles: dict[str, bytes] = field(default_factory=dict)  # format -> file content
    billed_seconds: float | None = None
    # Providers that analyze calls themselves (CallMissed): their insights for call_insights.
    insights: Any = None  # callmine.insights.model.CallInsights | None
    # Providers without timestamps (CallMissed): talk seconds per canonical speaker.
    speaker_talk_s: dict[str, float] | None = None


# -- outcomes: what a provider tells the pipeline -----------------------------------------


@dataclass(frozen=True, slots=True)
class Submitted:
    job_id: str
    status: str = "queued"


@dataclass(frozen=True, slots=True)
class Rejected:
    """This recording cannot be transcribed by this service (unsupported, too large, bad audio)."""

    reason: str


@dataclass(frozen=True, slots=True)
class RetryLater:
    """A transient failure (outage, 429, 5xx, timeout); ``after_s`` when the service said."""

    reason: str
    after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Fatal:
    """The service refuses us as configured (bad key, no credit, missing scope): an operator must act."""

    reason: str


SubmitOutcome = Submitted | Rejected | RetryLater | Fatal


class JobsProvider(ABC):
    """An async-jobs service. ``submit`` runs in a worker; ``apoll``/``afetch`` in the triggerer and stage."""

    kind = "jobs"
    name: str
    default_conn_id: str

    @abstractmethod
    def submit_job(self, request: JobRequest, audio: AudioSource) -> SubmitOutcome:
        """Create the job (idempotently: a retried task must never create a second job for a recording)."""

    @abstractmethod
    def async_client(self) -> httpx.AsyncClient:
        """A client for the async calls below; the caller closes it."""

    @abstractmethod
    async def apoll_job(self, client: httpx.AsyncClient, job_id: str) -> JobStatus | RetryLater | Fatal:
        """One status read, no retry loop: the trigger's poll rounds are the retry."""

    @abstractmethod
    async def afetch(self, client: httpx.AsyncClient, job_id: str, diarization: Diarization,
                     duration_s: float | None = None) -> FetchedTranscript:
        """The finished job's transcript (raises ``ProviderError`` or ``TranscriptError`` when unusable).

        ``duration_s`` is the recording's probed length: nothing may lie past it.
        """

    def delete_job(self, job_id: str) -> None:  # noqa: B027 - optional: services that keep data
        """Delete the job's data at the service after load (when the service supports it)."""


class RequestProvider(ABC):
    """A synchronous service: the request is the wait, so it runs inside the trigger."""

    kind = "request"
    name: str
    default_conn_id: str

    def check(self, filename: str, size_bytes: int | None) -> Rejected | None:
        """Refuse, before any upload, what the service cannot take (format, size)."""
        return None

    @abstractmethod
    def async_client(self) -> httpx.AsyncClient:
        """A client for ``arequest``; the caller closes it."""

    @abstractmethod
    async def arequest(
        self, client: httpx.AsyncClient, request: JobRequest, audio: AudioSource,
    ) -> dict[str, Any] | Rejected | RetryLater | Fatal:
        """Send the recording, wait for the answer; return it raw (JSON-able) for ``parse``."""

    @abstractmethod
    def parse(self, raw: dict[str, Any], request: JobRequest, duration_s: float | None) -> FetchedTranscript:
        """The raw answer as a validated transcript (raises ``TranscriptError`` when it cannot be one)."""


class SpeechProvider(ABC):
    """The PyAI-only contract the current operator uses (being replaced by JobsProvider)."""

    name: str

    @abstractmethod
    def submit(self, request: JobRequest, audio: AudioSource) -> JobStatus:
        """Create the job (idempotently); a replayed key answers with the existing job's status."""

    @abstractmethod
    def async_client(self) -> httpx.AsyncClient:
        """A client for the async calls below; the caller closes it."""

    @abstractmethod
    async def apoll(self, client: httpx.AsyncClient, job_id: str) -> JobStatus:
        """One status read, no retry loop: the trigger's poll rounds are the retry."""

    @abstractmethod
    async def afetch(self, client: httpx.AsyncClient, job_id: str, diarization: Diarization) -> FetchedTranscript:
        """The finished job's transcript and subtitle files."""
