"""What a test can turn on the fake OpenAI-compatible transcription server, and what it records.

From OpenAI's public API reference for ``POST /v1/audio/transcriptions``: bearer key,
multipart ``file`` + ``model`` (+ ``language``, ``prompt``, ``temperature``,
``response_format``, ``timestamp_granularities[]``, ``chunking_strategy``), a 25 MB upload
limit, OpenAI's error envelope, 429 with Retry-After. Fault counters ("the next n") count
down across transcription requests in arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_API_KEY = "sk-fake-audio-0123456789abcdefTESTKEY"
WHISPER = "whisper-1"
DIARIZE_MODEL = "gpt-4o-transcribe-diarize"
# Which response formats each model serves (OpenAI: only whisper-1 has verbose_json and
# timestamps; the gpt-4o models answer json/text; the diarize model adds diarized_json).
MODEL_FORMATS: dict[str, tuple[str, ...]] = {
    WHISPER: ("json", "text", "srt", "vtt", "verbose_json"),
    "gpt-4o-transcribe": ("json", "text"),
    "gpt-4o-mini-transcribe": ("json", "text"),
    DIARIZE_MODEL: ("json", "text", "diarized_json"),
}
SUPPORTED_FORMATS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
DIARIZE_CHUNKING_OVER_S = 30.0  # longer inputs need chunking_strategy


@dataclass(slots=True)
class AudioConfig:
    api_keys: set[str] = field(default_factory=lambda: {DEFAULT_API_KEY})  # empty = open server
    model_formats: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(MODEL_FORMATS))
    max_upload_bytes: int = MAX_UPLOAD_BYTES

    # --- fault injection, each "the next n transcription requests" ---
    rate_limit_times: int = 0
    retry_after_s: float | None = 2.0  # sent as Retry-After (seconds) and retry-after-ms
    server_error_times: int = 0
    server_error_status: int = 500

    # --- timing ---
    latency_s: float = 0.0  # asyncio.sleep per successful answer: concurrent requests overlap

    # --- answers ---
    # Some OpenAI-compatible servers label verbose_json segments with a speaker too.
    speakers_in_verbose_json: bool = False


@dataclass(slots=True)
class RecordedRequest:
    """One request as the server saw it (the Authorization header is never kept)."""

    path: str
    status: int = 0
    model: str | None = None
    response_format: str | None = None
    granularities: list[str] = field(default_factory=list)
    language: str | None = None
    chunking_strategy: str | None = None
    filename: str | None = None
    size: int | None = None
    channels: int | None = None  # WAV uploads: from the header
    sample_rate: int | None = None
    sample_width: int | None = None
    pcm_sha256: str | None = None  # WAV uploads: hash of the sample data (compare exact channels)
    answer: dict | str | None = None  # the body served on success
    authorized: bool = False
