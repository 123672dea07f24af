"""A fake OpenAI-compatible ``POST /v1/audio/transcriptions`` server, from the public API shape.

Self-contained (imports nothing from callmine or include): bearer auth (401, key echoed
masked), a 25 MB upload limit (413), formats per model (verbose_json with segments and
words, diarized_json with speakers A/B, json, text, srt, vtt), 429 with Retry-After and
5xx for the next n requests, latency, words timed where the audio is loud, and a record
of every request (model, response_format, granularities, file size, WAV channels, PCM hash).
"""

from .config import DEFAULT_API_KEY, DIARIZE_MODEL, WHISPER, AudioConfig, RecordedRequest
from .server import FakeOpenAIAudio

__all__ = ["DEFAULT_API_KEY", "DIARIZE_MODEL", "WHISPER", "AudioConfig", "FakeOpenAIAudio", "RecordedRequest"]
