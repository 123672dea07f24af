"""What a test can turn on the fake CallMissed service, and what it records.

Written from the public docs only ("Batch STT" / Call Analytics): bearer token, multipart
``file`` (max 100 MB; WAV, MP3, MP4, M4A, OGG, FLAC, WebM, AAC, AMR) and ``language``.
The docs do not show error bodies: the fake answers ``{"detail": "..."}`` (assumed).
Fault counters ("the next n") count down across analyze requests in arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_API_KEY = "cm_fake_access_token_0123456789abcdef"
ACCEPTED_FORMATS = ("wav", "mp3", "mp4", "m4a", "ogg", "flac", "webm", "aac", "amr")
MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # "max 100 MB" (read as MiB: assumed)


@dataclass(slots=True)
class CallMissedConfig:
    api_keys: set[str] = field(default_factory=lambda: {DEFAULT_API_KEY})  # empty = open server
    max_upload_bytes: int = MAX_UPLOAD_BYTES

    # --- fault injection ---
    server_error_times: int = 0  # the next n analyze requests fail with server_error_status
    server_error_status: int = 500
    latency_s: float = 0.0  # asyncio.sleep before each analyze answer (concurrent requests overlap)

    # --- answers (None = the fake's defaults, see answers.py) ---
    analysis_variant: str = "documented"  # a key of answers.ANALYSIS_VARIANTS
    analysis: str | None = None  # exact analysis text, overrides the variant
    transcript: str | None = None
    speaker_timing: dict[str, float] | None = None
    summary: str | None = None


@dataclass(slots=True)
class RecordedRequest:
    """One request as the server saw it (the Authorization header is never kept)."""

    method: str
    path: str
    status: int = 0
    filename: str | None = None
    size: int | None = None
    content_type: str | None = None
    language: str | None = None
    json: dict[str, Any] | None = None
    authorized: bool = False
