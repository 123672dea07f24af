"""The PyAI Hear jobs dialect: paths, field names, headers, statuses and problem codes.

One definition for both sides that speak it in callmine: the ``pyai`` client
(``callmine.hooks.pyai``, ``callmine.providers.pyai``) and the embedded engine
(``include.engine``). Test fakes do NOT use it: they are written from the contract so
they can catch both sides drifting from the real service.
"""

from __future__ import annotations

# -- paths ------------------------------------------------------------------------------
JOBS_PATH = "/v1/transcription/jobs"
JOB_PATH = JOBS_PATH + "/{job_id}"
ME_PATH = "/v1/me"
OPENAI_TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"  # the synchronous, OpenAI-compatible endpoint

# -- submit fields (JSON body, or multipart form fields beside the `audio` part) ----------
AUDIO_URL = "audio_url"
AUDIO_PART = "audio"
CHANNEL = "channel"  # stereo: one party per channel (never with DIARIZE)
DIARIZE = "diarize"  # mono: model-based speakers
SPEAKERS_EXPECTED = "speakers_expected"
NUMERALS = "numerals"
OUTPUT_FORMATS = "output_formats"
LANGUAGE = "language"
WEBHOOK_URL = "webhook_url"
SUBTITLE_FORMATS = ("srt", "vtt")
OUTPUT_FORMAT_CHOICES = ("json", *SUBTITLE_FORMATS)

# -- headers ----------------------------------------------------------------------------
IDEMPOTENCY_KEY = "Idempotency-Key"
SIGNATURE = "X-PyAI-Signature"  # hex HMAC-SHA256 of the raw webhook body
UNITS = "x-pyai-units"

# -- job statuses -------------------------------------------------------------------------
QUEUED, PROCESSING, COMPLETED, FAILED, CANCELLED = "queued", "processing", "completed", "failed", "cancelled"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})

# -- problem+json codes (the last path segment of `type`) -----------------------------------
PROBLEM_BASE = "https://errors.pyai.com/"
VALIDATION_ERROR = "validation_error"
UNAUTHORIZED = "unauthorized"
CREDIT_EXHAUSTED = "credit_exhausted"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
IDEMPOTENCY_CONFLICT = "idempotency_conflict"
RATE_LIMITED = "rate_limited"
PAYLOAD_TOO_LARGE = "payload_too_large"
