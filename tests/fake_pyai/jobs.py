"""A job, its lazily derived status, and how it finishes.

No background task advances a job: its status is a pure function of the time since
submit (and of the audio download for audio_url jobs). The outcome (transcript or
error) is built once, the first time someone observes the job past its latency,
then cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .audio_probe import UndecodableAudio, probe_audio
from .config import FakeConfig
from .submission import JobOptions
from .subtitles import to_srt, to_vtt
from .transcript_gen import fabricate_result, word_style_for

Status = Literal["queued", "processing", "completed", "failed", "cancelled"]
DUE = "due"  # internal: latency elapsed, outcome not built yet

_JSON = {"separators": (",", ":"), "ensure_ascii": False}


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Outcome:
    status: Status
    finished_at: str
    error: str | dict[str, str] | None = None
    result_core_json: str | None = None  # result document without "formats"
    audio_seconds: float | None = None
    offloaded: bool = False
    subtitles: dict[str, str] = field(default_factory=dict)  # "srt"/"vtt" -> body


@dataclass(slots=True, eq=False)
class Job:
    job_id: str
    owner: str  # key id; jobs are only visible to the key that created them
    created_wall: datetime
    created_mono: float
    latency_s: float
    options: JobOptions
    audio_url: str | None
    filename: str | None
    audio: bytes | None  # dropped once the outcome is built
    cancel: bool = False
    fetch_error: tuple[str, str] | None = None  # (code, message)
    fetched_mono: float | None = None
    outcome: Outcome | None = None
    finalizing: asyncio.Future[Outcome] | None = None

    @property
    def source_name(self) -> str:
        return self.audio_url or self.filename or ""

    def phase(self, now: float, queued_fraction: float) -> str:
        """Current status, or DUE when the outcome must be built first."""
        if self.outcome is not None:
            return self.outcome.status
        if self.audio is None and self.fetch_error is None:
            return "queued"  # still downloading audio_url
        elapsed = now - self.created_mono
        if elapsed >= self.latency_s:
            return DUE
        if self.fetch_error is not None or elapsed < self.latency_s * queued_fraction:
            return "queued"  # an unfetchable URL never starts processing
        return "processing"


def error_value(code: str, message: str, config: FakeConfig) -> str | dict[str, str]:
    """Both error shapes are legal per contract; pick one deterministically."""
    shape = config.error_shape
    if shape == "by_kind":
        shape = "string" if code == "audio_decode_failed" else "object"
    return message if shape == "string" else {"code": code, "message": message}


def build_outcome(job: Job, config: FakeConfig) -> Outcome:
    """CPU work (probe, fabricate, serialize): runs in a worker thread."""
    # Reported finish time: when the latency elapsed, or when the download ended if later.
    took_s = max(job.latency_s, (job.fetched_mono or job.created_mono) - job.created_mono)
    finished_at = iso(job.created_wall + timedelta(seconds=took_s))
    if job.cancel:
        return Outcome("cancelled", finished_at)
    if job.fetch_error is not None:
        code, message = job.fetch_error
        return Outcome("failed", finished_at, error=error_value(code, message, config))
    audio = job.audio or b""
    try:
        info = probe_audio(audio)
    except UndecodableAudio as exc:
        message = f"could not decode audio: {exc}"
        return Outcome("failed", finished_at, error=error_value("audio_decode_failed", message, config))

    core = fabricate_result(hashlib.sha256(audio).digest(), info, job.options, word_style_for(job.job_id, config))
    core_json = json.dumps(core, **_JSON)
    subtitles = {}
    if "srt" in job.options.output_formats:
        subtitles["srt"] = to_srt(core["segments"])
    if "vtt" in job.options.output_formats:
        subtitles["vtt"] = to_vtt(core["segments"])
    # Each signed URL adds ~200 bytes to the document the client would receive inline.
    size = len(core_json.encode()) + 220 * len(subtitles)
    threshold = config.offload_over_bytes
    offloaded = threshold is not None and size > threshold
    return Outcome(
        "completed",
        finished_at,
        result_core_json=core_json,
        audio_seconds=core["audio_seconds"],
        offloaded=offloaded,
        subtitles=subtitles,
    )


def result_json(outcome: Outcome, formats: dict[str, str]) -> str:
    """The full result document: cached core plus freshly signed subtitle URLs."""
    assert outcome.result_core_json is not None
    return outcome.result_core_json[:-1] + ',"formats":' + json.dumps(formats, **_JSON) + "}"


def job_document(
    job: Job,
    status: str,
    config: FakeConfig,
    *,
    result_url: str | None = None,
) -> dict[str, Any]:
    """The job resource without its inline result (callers splice that in)."""
    doc: dict[str, Any] = {
        "job_id": job.job_id,
        "status": status,
        "created_at": iso(job.created_wall),
    }
    if status != "queued" and job.fetch_error is None:
        started = job.created_wall + timedelta(seconds=job.latency_s * config.queued_fraction)
        doc["started_at"] = iso(started)
    if job.audio_url is not None:
        doc["audio_url"] = job.audio_url
    else:
        doc["filename"] = job.filename
    doc.update(job.options.public())
    outcome = job.outcome
    if outcome is None:
        return doc
    doc["completed_at"] = outcome.finished_at
    if outcome.status == "failed":
        doc["error"] = outcome.error
    elif outcome.status == "completed":
        doc["audio_seconds"] = outcome.audio_seconds
        if outcome.offloaded:
            # "absent" and "null" are both legal for an offloaded result: vary per job.
            if hashlib.sha256(job.job_id.encode()).digest()[1] & 1:
                doc["result"] = None
            doc["result_url"] = result_url
    return doc


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, **_JSON)
