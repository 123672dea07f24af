"""Every knob of the fake AssemblyAI service. Defaults follow the public API reference."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_API_KEY = "aai_test_fake_key_0123456789abcdef"
AUTH_ERROR = "Authentication error, API token missing/invalid"  # the docs' exact body
# The public reference lists the models; "best"/"nano" are the older names still accepted.
SPEECH_MODELS = frozenset({"best", "nano", "slam-1", "universal", "universal-2", "universal-3-pro"})


@dataclass(slots=True)
class FakeAssemblyAIConfig:
    """Behaviour of the fake; change it on a running server with ``FakeAssemblyAI.configure``."""

    api_keys: frozenset[str] = frozenset({DEFAULT_API_KEY})

    # --- timing: status is derived from time since creation, like a real queue ---
    latency_s: float = 0.3  # queued -> processing -> completed
    queued_fraction: float = 0.3  # share of the latency spent "queued"
    slow_latency_s: float = 5.0
    # A marker in the audio_url, or in the uploaded bytes, picks the behaviour.
    slow_audio: frozenset[str] = frozenset({"aai-slow"})
    fail_audio: frozenset[str] = frozenset({"aai-fail"})  # ends HTTP 200 with status "error"
    fail_error: str = ("File does not appear to contain audio. "
                       "File type is text/plain (ASCII text, with no line terminators).")
    reject_audio: frozenset[str] = frozenset({"aai-reject"})  # POST /v2/transcript answers 400
    reject_error: str = "Invalid audio_url: the file could not be accepted for transcription"

    # --- transient faults, counted down per API request (0 = off) ---
    fail_next_5xx: int = 0
    fault_status: int = 503
    fail_next_429: int = 0
    retry_after_s: int = 1
    # The transcript is created but the answer is lost (500): a client that blindly resends duplicates it.
    lose_next_create_answers: int = 0

    # --- content ---
    lines: int = 6  # utterances per transcript (fewer when the WAV is too short for them)
    default_speakers: int = 2  # speaker_labels without speakers_expected
    word_ms: int = 260  # base duration of a word; longer words take longer
    gap_ms: int = 80  # between words
    turn_gap_ms: int = 500  # between utterances
    overlap_ms: int = 200  # multichannel: the next party starts before the other finishes
    speech_models: frozenset[str] = field(default=SPEECH_MODELS)

    def matches(self, markers: frozenset[str], audio_url: str, content: bytes | None) -> bool:
        return any(m in audio_url or (content is not None and m.encode() in content) for m in markers)
