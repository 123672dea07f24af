"""The fake's state: uploads, transcripts, fault counters and request counters.

Thread-safe (one lock): the HTTP handlers run on the server's loop while tests read
counters and change the configuration from their own thread.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import content
from .config import FakeAssemblyAIConfig

# Echoed request parameters (the real object echoes every option; these are the ones we model).
ECHOED = ("audio_url", "speech_model", "speech_models", "language_code", "language_detection", "speaker_labels",
          "speakers_expected", "multichannel", "punctuate", "format_text", "webhook_url")


class ApiError(Exception):
    """An HTTP error answer: ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@dataclass(slots=True)
class Job:
    id: str
    seq: int
    body: dict[str, Any]
    created_at: float  # monotonic, for the status clock
    created: str  # ISO timestamp, as listed
    latency_s: float
    outcome: str  # "completed" | "error"
    error: str | None = None
    audio: bytes | None = None
    deleted: bool = False
    result: dict[str, Any] | None = field(default=None, repr=False)


class FakeAssemblyAIService:
    def __init__(self, config: FakeAssemblyAIConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.uploads: dict[str, bytes] = {}
            self.jobs: dict[str, Job] = {}
            self.created_bodies: list[dict[str, Any]] = []
            self.created_ids: list[str] = []
            self.requests: Counter[str] = Counter()  # "METHOD /route/template" -> count
            self.authorizations: list[str | None] = []  # authorization header of each API request
            self._seq = 0

    # -- the gate every API request passes ---------------------------------------------------
    def admit(self, route: str, authorization: str | None) -> None:
        """Count the request, then inject faults (an outage answers before auth), then authenticate."""
        with self.lock:
            self.requests[route] += 1
            self.authorizations.append(authorization)
            if self.config.fail_next_5xx > 0:
                self.config.fail_next_5xx -= 1
                raise ApiError(self.config.fault_status, "Service temporarily unavailable")
            if authorization not in self.config.api_keys:
                raise ApiError(401, "Authentication error, API token missing/invalid")
            if self.config.fail_next_429 > 0:
                self.config.fail_next_429 -= 1
                raise ApiError(429, "Too many requests", {"Retry-After": str(self.config.retry_after_s)})

    # -- uploads ---------------------------------------------------------------------------------
    def upload(self, data: bytes, base_url: str) -> str:
        if not data:
            raise ApiError(400, "Upload failed: the request body is empty")
        upload_id = str(uuid.uuid4())
        with self.lock:
            self.uploads[upload_id] = data
        return f"{base_url.rstrip('/')}/upload/{upload_id}"

    def uploaded(self, upload_id: str) -> bytes | None:
        with self.lock:
            return self.uploads.get(upload_id)

    # -- transcripts -----------------------------------------------------------------------------
    def create(self, body: Any, base_url: str) -> dict[str, Any]:
        cfg = self.config
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        audio_url = body.get("audio_url")
        if not isinstance(audio_url, str) or not audio_url.startswith(("http://", "https://")):
            raise ApiError(400, "audio_url is required and must be an http(s) URL")
        if body.get("speaker_labels") and body.get("multichannel"):
            raise ApiError(400, "Speaker labels and multichannel cannot be enabled at the same time.")
        model = body.get("speech_model")
        models = body.get("speech_models")
        for name in ([model] if model is not None else []) + (list(models) if isinstance(models, list) else []):
            if name not in cfg.speech_models:
                raise ApiError(400, f"Invalid speech_model: {name!r}")
        audio = self._audio_for(audio_url, base_url)
        if cfg.matches(cfg.reject_audio, audio_url, audio):
            raise ApiError(400, cfg.reject_error)
        outcome, error = self._outcome(audio_url, audio, base_url)
        slow = cfg.matches(cfg.slow_audio, audio_url, audio)
        with self.lock:
            self._seq += 1
            job = Job(
                id=str(uuid.uuid4()), seq=self._seq, body=dict(body), created_at=time.monotonic(),
                created=datetime.now(UTC).replace(tzinfo=None).isoformat(),
                latency_s=cfg.slow_latency_s if slow else cfg.latency_s, outcome=outcome, error=error, audio=audio,
            )
            self.jobs[job.id] = job
            self.created_bodies.append(dict(body))
            self.created_ids.append(job.id)
            if cfg.lose_next_create_answers > 0:
                cfg.lose_next_create_answers -= 1
                raise ApiError(500, "Internal server error")
        return self.view(job)

    def _audio_for(self, audio_url: str, base_url: str) -> bytes | None:
        prefix = f"{base_url.rstrip('/')}/upload/"
        return self.uploaded(audio_url[len(prefix):]) if audio_url.startswith(prefix) else None

    def _outcome(self, audio_url: str, audio: bytes | None, base_url: str) -> tuple[str, str | None]:
        """How the job will end; decided at creation, revealed when the latency has passed."""
        cfg = self.config
        if audio_url.startswith(f"{base_url.rstrip('/')}/upload/") and audio is None:
            return "error", f"Download error, unable to download {audio_url}. Please make sure the file exists."
        if cfg.matches(cfg.fail_audio, audio_url, audio):
            return "error", cfg.fail_error
        seconds = content.wav_seconds(audio)
        if seconds is not None and seconds < 0.16:
            return "error", "Audio duration is too short."
        return "completed", None

    def status(self, job: Job) -> str:
        if job.deleted:
            return job.outcome
        age = time.monotonic() - job.created_at
        if age < job.latency_s * self.config.queued_fraction:
            return "queued"
        if age < job.latency_s:
            return "processing"
        return job.outcome

    def get(self, transcript_id: str) -> Job:
        with self.lock:
            job = self.jobs.get(transcript_id)
        if job is None:
            raise ApiError(404, "Transcript not found")
        return job

    def view(self, job: Job) -> dict[str, Any]:
        """The transcript object as GET /v2/transcript/{id} answers it."""
        status = self.status(job)
        doc: dict[str, Any] = {"id": job.id, "status": status, **{k: job.body.get(k) for k in ECHOED}}
        doc.update(text=None, words=None, utterances=None, confidence=None, audio_duration=None)
        if job.body.get("language_detection") and not job.body.get("language_code"):
            doc["language_code"] = None
        if status == "error":
            doc["error"] = job.error
        elif job.deleted:
            doc.update(audio_url="http://deleted_by_user", text="Deleted by user.")
        elif status == "completed":
            doc.update(self.result(job))
            if job.body.get("language_detection"):
                doc.update(language_code="en", language_confidence=0.98)
        return doc

    def result(self, job: Job) -> dict[str, Any]:
        if job.result is None:
            job.result = content.generate(job.body, self.config, content.wav_seconds(job.audio))
        return job.result

    def subtitles(self, transcript_id: str, fmt: str, chars_per_caption: int | None) -> str:
        job = self.get(transcript_id)
        if self.status(job) != "completed" or job.deleted:
            raise ApiError(400, f"Transcript {transcript_id} is not completed; subtitles are not available")
        doc = self.result(job)
        return content.srt(doc, chars_per_caption) if fmt == "srt" else content.vtt(doc, chars_per_caption)

    def delete(self, transcript_id: str) -> dict[str, Any]:
        job = self.get(transcript_id)
        if self.status(job) not in ("completed", "error"):
            raise ApiError(400, "Transcript is still being processed and cannot be deleted yet")
        with self.lock:
            job.deleted, job.audio, job.result = True, None, None
        return self.view(job)

    def listing(self, *, limit: int, before_id: str | None, after_id: str | None,
                status: str | None, base_url: str) -> dict[str, Any]:
        """Newest first; ``prev_url`` pages to older transcripts (``before_id``), ``next_url`` to newer."""
        with self.lock:
            jobs = sorted(self.jobs.values(), key=lambda j: j.seq, reverse=True)
        if status:
            jobs = [j for j in jobs if self.status(j) == status]
        if before_id:
            anchor = self.get(before_id).seq
            page = [j for j in jobs if j.seq < anchor][:limit]
        elif after_id:
            anchor = self.get(after_id).seq
            page = [j for j in jobs if j.seq > anchor][-limit:]
        else:
            page = jobs[:limit]
        url = f"{base_url.rstrip('/')}/v2/transcript"
        older = bool(page) and any(j.seq < page[-1].seq for j in jobs)
        newer = bool(page) and any(j.seq > page[0].seq for j in jobs)
        query = "&".join(f"{k}={v}" for k, v in (("limit", limit), ("before_id", before_id), ("after_id", after_id),
                                                 ("status", status)) if v)
        return {
            "page_details": {
                "limit": limit, "result_count": len(page), "current_url": f"{url}?{query}" if query else url,
                "prev_url": f"{url}?limit={limit}&before_id={page[-1].id}" if older else None,
                "next_url": f"{url}?limit={limit}&after_id={page[0].id}" if newer else None,
            },
            "transcripts": [self._item(j, url) for j in page],
        }

    def _item(self, job: Job, url: str) -> dict[str, Any]:
        view = self.view(job)
        return {"id": job.id, "resource_url": f"{url}/{job.id}", "status": view["status"],
                "created": job.created, "completed": job.created if view["status"] in ("completed", "error") else None,
                "audio_url": view["audio_url"], "error": view.get("error")}

    # -- for assertions -----------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"uploads": len(self.uploads), "transcripts_created": len(self.created_bodies),
                    "requests": dict(self.requests), "created_bodies": [dict(b) for b in self.created_bodies],
                    "created_ids": list(self.created_ids)}
