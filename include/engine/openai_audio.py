"""OpenAI-compatible ``POST /v1/audio/transcriptions`` on the engine: a synchronous request.

Built on the jobs machinery rather than beside it: the upload becomes an ordinary job
(streamed to disk, size-limited, hashed), the handler awaits the job's end, then answers
in OpenAI's shapes. So these requests share the one queue and worker pool with the jobs
API (fair order, one place sizing CPU use, worker crash/timeout handling and recycling,
input deleted after processing) instead of competing with it from a second pool; the
handler itself only polls the job store, so the event loop never blocks on CPU work. The job
stays visible through the jobs API (``GET /v1/transcription/jobs/{id}``) like any other.

Mono in, one voice out: no diarization here (callmine sends a stereo call as one request
per channel). ``model`` names an engine model of the allow-list (``tiny.en``, ``base``;
an engine model not enabled is refused); other names (``whisper-1``) mean the engine's
configured model. Bodies are limited while they stream, like the jobs API's. Errors use
OpenAI's envelope.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .auth import authenticate
from .bodies import read_multipart
from .config import EngineConfig
from .jobs import Engine
from .problems import ProblemError, invalid
from .results import to_srt, to_vtt
from .speech.models import AVAILABLE_MODELS
from .store import TERMINAL
from .submission import MULTIPART_OVERHEAD, Submission, check_model, fingerprint, language_field

TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
GRANULARITIES = ("word", "segment")
# Job error codes that mean "this file", answered 400 like OpenAI's invalid_file; the rest are 500.
_FILE_ERRORS = {"audio_empty", "audio_decode_failed", "unsupported_codec", "audio_too_large"}
log = logging.getLogger("callmine.engine.openai")


def openai_audio_routes(config: EngineConfig) -> list[Route]:
    async def transcriptions(request: Request) -> Response:
        try:
            return await _transcribe(request, config, request.app.state.engine)
        except ProblemError as error:
            # Connection: close: a refused request may leave body bytes unread (see app._closing).
            return openai_error(error.status, error.detail or error.code, error.code,
                                {**error.headers, "Connection": "close"})
        except Exception:
            log.exception("unhandled error on POST %s", TRANSCRIPTIONS_PATH)
            return openai_error(500, "The server had an error while processing your request.", "internal_error",
                                {"Connection": "close"})

    return [Route(TRANSCRIPTIONS_PATH, transcriptions, methods=["POST"])]


def openai_error(status: int, message: str, code: str | None, headers: dict[str, str] | None = None) -> JSONResponse:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _transcribe(request: Request, config: EngineConfig, engine: Engine) -> Response:
    owner = authenticate(request, config)  # the same keys (and rate limit) as the jobs API
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
        raise invalid("Content-Type must be multipart/form-data with a 'file' part")
    form = await read_multipart(request, file_field="file", upload_dir=config.data_dir / "audio",
                                max_file_bytes=config.max_upload_bytes, overhead=MULTIPART_OVERHEAD)
    try:
        fmt, granularities, options = _fields(form.fields, config)
        upload = form.file
        if upload is None:
            raise invalid("Missing required parameter: 'file' (a file part)")
    except BaseException:
        form.discard()
        raise
    filename = upload.filename or "audio"
    submission = Submission(options, None, upload.path, filename, fingerprint(options, audio_sha256=upload.sha256))
    job, _ = await engine.submit(owner, submission, None)
    job = await _finished(engine, job.job_id)
    if job.status != "completed":
        error = job.error or {}
        code = error.get("code", "processing_failed")
        raise ProblemError(400 if code in _FILE_ERRORS else 500, code, error.get("message", "transcription failed"))
    document = json.loads(await engine.read_result(job.job_id, "result"))
    return _render(document, fmt, granularities)


def _model(requested: str, config: EngineConfig) -> str:
    """An engine model of the allow-list; OpenAI names (whisper-1) and unknown names mean the configured one."""
    if requested in config.models_in_force():
        return requested
    if requested in AVAILABLE_MODELS:
        check_model(requested, config)  # an engine model this engine does not enable: refused
    return config.model


def _fields(form: FormData, config: EngineConfig) -> tuple[str, set[str], dict[str, Any]]:
    fmt = str(form.get("response_format") or "json")
    if fmt == "diarized_json":
        raise invalid("response_format 'diarized_json' is not supported: this server does not diarize; "
                      "send each channel of a stereo call as its own request")
    if fmt not in RESPONSE_FORMATS:
        raise invalid(f"response_format must be one of {list(RESPONSE_FORMATS)}")
    granularities = {str(g) for g in form.getlist("timestamp_granularities[]") + form.getlist("timestamp_granularities")}
    if granularities - set(GRANULARITIES):
        raise invalid(f"timestamp_granularities[] must be among {list(GRANULARITIES)}")
    options = {
        "channel": False, "diarize": False, "numerals": False, "output_formats": ["json"], "webhook_url": None,
        "language": language_field(form.get("language") or None), "speakers_expected": None,
        "model": _model(str(form.get("model") or ""), config),
    }
    return fmt, granularities, options


async def _finished(engine: Engine, job_id: str) -> Any:
    """Wait for the job to end: a cheap job-store read per tick, backing off to 0.5 s (on a shared
    queue any engine may run the job)."""
    delay = 0.05
    while True:
        job = engine.store.get(job_id)
        if job is None:
            raise ProblemError(500, "internal_error", f"job {job_id} vanished")
        if job.status in TERMINAL:
            return job
        await asyncio.sleep(delay)
        delay = min(0.5, delay * 1.5)


def _render(document: dict[str, Any], fmt: str, granularities: set[str]) -> Response:
    segments = document.get("segments") or []
    text = str(document.get("text") or "")
    if fmt == "text":
        return PlainTextResponse(text)
    if fmt in ("srt", "vtt"):
        return PlainTextResponse(to_srt(segments) if fmt == "srt" else to_vtt(segments))
    duration = document.get("audio_seconds")
    if fmt == "json":
        return JSONResponse({"text": text, "usage": {"type": "duration", "seconds": duration}})
    body: dict[str, Any] = {"task": "transcribe", "language": document.get("language"), "duration": duration,
                            "text": text}
    if "segment" in granularities or not granularities:  # OpenAI's default granularity
        body["segments"] = [{"id": i, "start": s["start"], "end": s["end"], "text": s["text"]}
                            for i, s in enumerate(segments)]
    if "word" in granularities:
        body["words"] = [{"word": w["word"], "start": w["start"], "end": w["end"]} for w in document.get("words") or []]
    return JSONResponse(body)
