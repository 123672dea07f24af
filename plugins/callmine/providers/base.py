"""The one contract every speech provider plugs in behind.

A provider submits a recording as an async job (sync, from a worker), reports a job's
status (async, from the triggerer) and fetches a finished job as a canonical
``Transcript`` (async, so a batch's results download concurrently).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

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


class SpeechProvider(ABC):
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
