"""What flows between tasks: recordings, batches and the run's settings (all XCom-safe dicts)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from callmine.transcript import Diarization

AUDIO_EXTENSIONS = frozenset({"wav", "mp3", "m4a", "ogg", "flac", "webm", "aac", "amr", "mp4"})


def make_call_id(source_uri: str) -> str:
    """Stable id: the same recording (same URI) gets the same id on every run."""
    return "call_" + hashlib.sha256(source_uri.encode()).hexdigest()[:20]


@dataclass(slots=True)
class Recording:
    call_id: str
    source_uri: str
    call_date: str  # YYYY-MM-DD
    format: str
    size_bytes: int | None = None
    modified_at: str | None = None  # ISO 8601, as the store reported it
    duration_s: float | None = None
    channels: int | None = None
    probe_error: str | None = None

    @property
    def diarization(self) -> Diarization:
        return Diarization.CHANNEL if (self.channels or 1) >= 2 else Diarization.MODEL

    @property
    def filename(self) -> str:
        return self.source_uri.rstrip("/").rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recording:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(slots=True)
class RunSettings:
    """Resolved DAG params for one run; travels inside every batch."""

    call_date: str
    run_id: str
    source_uri: str
    warehouse_uri: str
    provider: str = "pyai"
    conn_id: str | None = None
    trackers: str = "include/trackers/default.yaml"
    speakers: int = 2
    reprocess: bool = False
    language: str | None = None
    output_formats: tuple[str, ...] = ("json", "srt", "vtt")
    agent_channel: int = 0
    insights: str = "lexical"  # lexical | llm | off

    @property
    def run_key(self) -> str:
        """A filesystem-safe name for this run's staging area."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.run_id)
        return f"{self.call_date}__{safe}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output_formats"] = list(self.output_formats)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSettings:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["output_formats"] = tuple(values.get("output_formats") or ("json", "srt", "vtt"))
        return cls(**values)


@dataclass(slots=True)
class Batch:
    batch_id: str  # e.g. "2026-11-20/b003": names the mapped task instance
    settings: RunSettings
    recordings: list[Recording] = field(default_factory=list)
    # Already-loaded calls whose insights are missing or stale: analyzed, not transcribed.
    reanalyze: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "settings": self.settings.to_dict(),
            "recordings": [r.to_dict() for r in self.recordings],
            "reanalyze": list(self.reanalyze),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Batch:
        return cls(
            batch_id=data["batch_id"],
            settings=RunSettings.from_dict(data["settings"]),
            recordings=[Recording.from_dict(r) for r in data["recordings"]],
            reanalyze=list(data.get("reanalyze") or []),
        )


def idempotency_key(recording: Recording, settings: RunSettings) -> str:
    """One key per recording content and job config.

    A retried or cleared task re-sends the same key and gets the same job back; a
    changed recording, a changed config or an explicit ``reprocess`` run gets a new one.
    """
    material = {
        "call_id": recording.call_id,
        "size": recording.size_bytes,
        "modified_at": recording.modified_at,
        "diarization": recording.diarization.value,
        "speakers": settings.speakers,
        "formats": list(settings.output_formats),
        "language": settings.language,
        "provider": settings.provider,
        "reprocess_run": settings.run_id if settings.reprocess else None,
    }
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return f"callmine-{digest[:40]}"


def make_batches(
    recordings: list[Recording], settings: RunSettings, batch_size: int, reanalyze: list[str] | None = None,
) -> list[Batch]:
    """Transcription batches ``D/bNNN``, then insights catch-up batches ``D/iNNN`` (no recordings)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    ordered = sorted(recordings, key=lambda r: r.source_uri)  # stable batch membership across retries
    catch_up = sorted(reanalyze or [])
    return [
        Batch(f"{settings.call_date}/b{i // batch_size:03d}", settings, ordered[i : i + batch_size])
        for i in range(0, len(ordered), batch_size)
    ] + [
        Batch(f"{settings.call_date}/i{i // batch_size:03d}", settings, [], catch_up[i : i + batch_size])
        for i in range(0, len(catch_up), batch_size)
    ]
