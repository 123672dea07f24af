"""``POST /v1/audio/transcriptions``, OpenAI-shaped.

Checks in OpenAI's order: auth (401, key echoed masked), size (413), injected 429/5xx,
fields (400: file, model, format per model, granularities only with verbose_json,
chunking_strategy for long diarized inputs), then latency and the answer. Errors use the
envelope ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.background_server import RequestLog

from .asr import Audio, read_audio, recognize
from .config import DIARIZE_CHUNKING_OVER_S, SUPPORTED_FORMATS, AudioConfig, RecordedRequest

TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
_SLACK = 1 << 20  # multipart overhead tolerated beyond the file limit


def _error(status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
           param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _mask(key: str) -> str:
    return f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}" if len(key) > 8 else "***"


def _srt_time(t: float, sep: str) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


class AudioService(RequestLog[RecordedRequest]):
    def __init__(self, config: AudioConfig) -> None:
        super().__init__()
        self.config = config

    def _denied(self, request: Request) -> JSONResponse | None:
        if not self.config.api_keys:
            return None
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            return _error(401, "You didn't provide an API key. You need to provide your API key in an "
                          "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        key = header[7:].strip()
        if key not in self.config.api_keys:
            return _error(401, f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
                          "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
        return None

    async def transcriptions(self, request: Request) -> Response:
        rec = RecordedRequest(request.url.path)
        self.requests.append(rec)
        with self.counted_in_flight():
            response = await self._transcriptions(request, rec)
        rec.status = response.status_code
        return response

    async def _transcriptions(self, request: Request, rec: RecordedRequest) -> Response:
        cfg = self.config
        if (denied := self._denied(request)) is not None:
            return denied
        rec.authorized = True
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > cfg.max_upload_bytes + _SLACK:
            return self._too_large(int(length))
        try:
            form = await request.form(max_files=1, max_fields=50)
        except Exception:  # python-multipart raises several unrelated types
            return _error(400, "Could not parse multipart form")
        try:
            upload = form.get("file")
            fields = {k: form.get(k) for k in ("model", "response_format", "language", "chunking_strategy")}
            granularities = [str(g) for g in form.getlist("timestamp_granularities[]")]
            content = await upload.read() if isinstance(upload, UploadFile) else None
        finally:
            await form.close()
        rec.model, rec.language = fields["model"] or None, fields["language"] or None
        rec.response_format = fields["response_format"] or None
        rec.chunking_strategy = fields["chunking_strategy"] or None
        rec.granularities = granularities
        if content is not None:
            assert isinstance(upload, UploadFile)
            rec.filename, rec.size = upload.filename, len(content)
            if len(content) > cfg.max_upload_bytes:
                return self._too_large(len(content))
        if cfg.rate_limit_times > 0:
            cfg.rate_limit_times -= 1
            headers = {}
            if cfg.retry_after_s is not None:
                headers = {"retry-after": str(math.ceil(cfg.retry_after_s)),
                           "retry-after-ms": str(int(cfg.retry_after_s * 1000))}
            return _error(429, f"Rate limit reached for {rec.model} on requests per min (RPM). "
                          "Please try again shortly.", "requests", "rate_limit_exceeded", headers=headers)
        if cfg.server_error_times > 0:
            cfg.server_error_times -= 1
            return _error(cfg.server_error_status, "The server had an error while processing your request. "
                          "Sorry about that!", "server_error")
        if content is None:
            return _error(400, "Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
        problem = self._invalid(rec, content)
        if problem is not None:
            return problem
        audio = read_audio(content)
        rec.channels, rec.sample_rate, rec.sample_width = audio.channels, audio.sample_rate, audio.sample_width
        rec.pcm_sha256 = audio.pcm_sha256
        fmt = rec.response_format or "json"
        if fmt == "diarized_json" and audio.seconds > DIARIZE_CHUNKING_OVER_S and not rec.chunking_strategy:
            return _error(400, "chunking_strategy is required for diarization models when the input is longer "
                          f"than {DIARIZE_CHUNKING_OVER_S:.0f} seconds.", param="chunking_strategy")
        if cfg.latency_s > 0:
            await asyncio.sleep(cfg.latency_s)
        return self._answer(rec, audio, content, fmt)

    def _invalid(self, rec: RecordedRequest, content: bytes) -> JSONResponse | None:
        ext = (rec.filename or "").rsplit(".", 1)[-1].lower() if "." in (rec.filename or "") else ""
        if ext not in SUPPORTED_FORMATS or not content:
            return _error(400, f"Invalid file format. Supported formats: {list(SUPPORTED_FORMATS)}",
                          param="file", code="invalid_value")
        formats = self.config.model_formats.get(rec.model or "")
        if not rec.model:
            return _error(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
        if formats is None:
            return _error(400, f"Invalid model {rec.model}. The model argument should be left blank.",
                          param="model", code="model_not_found")
        fmt = rec.response_format or "json"
        if fmt not in formats:
            return _error(400, f"response_format '{fmt}' is not compatible with model '{rec.model}'. "
                          f"Use one of {list(formats)}.", param="response_format", code="unsupported_value")
        bad = sorted(set(rec.granularities) - {"word", "segment"})
        if bad:
            return _error(400, f"Invalid timestamp_granularities[]: {bad}", param="timestamp_granularities")
        if rec.granularities and fmt != "verbose_json":
            return _error(400, "timestamp_granularities[] is only supported with response_format=verbose_json",
                          param="timestamp_granularities")
        return None

    def _too_large(self, size: int) -> JSONResponse:
        return _error(413, f"Maximum content size limit ({self.config.max_upload_bytes}) exceeded "
                      f"({size} bytes read)", code="file_too_large")

    def _answer(self, rec: RecordedRequest, audio: Audio, content: bytes, fmt: str) -> Response:
        words, segments = recognize(audio, content)
        text = " ".join(s["text"] for s in segments)
        duration = round(audio.seconds, 3)
        body: dict[str, Any] | str
        if fmt == "verbose_json":
            wanted = set(rec.granularities) or {"segment"}
            body = {"task": "transcribe", "language": "english", "duration": duration, "text": text}
            if "segment" in wanted:
                body["segments"] = [
                    {"id": i, "seek": 0, "start": s["start"], "end": s["end"], "text": " " + s["text"],
                     "tokens": [], "temperature": 0.0, "avg_logprob": -0.25, "compression_ratio": 1.2,
                     "no_speech_prob": 0.01, **({"speaker": "AB"[s["party"] % 2]}
                                                if self.config.speakers_in_verbose_json else {})}
                    for i, s in enumerate(segments)
                ]
            if "word" in wanted:
                body["words"] = words
        elif fmt == "diarized_json":
            body = {"task": "transcribe", "duration": duration, "text": text, "segments": [
                {"type": "transcript.text.segment", "id": f"seg_{i:03d}", "start": s["start"], "end": s["end"],
                 "text": s["text"], "speaker": "AB"[s["party"] % 2]} for i, s in enumerate(segments)],
                "usage": {"type": "duration", "seconds": math.ceil(duration)}}
        elif fmt in ("srt", "vtt"):
            sep = "," if fmt == "srt" else "."
            cues = [f"{i + 1}\n{_srt_time(s['start'], sep)} --> {_srt_time(s['end'], sep)}\n{s['text']}\n"
                    for i, s in enumerate(segments)]
            body = ("WEBVTT\n\n" if fmt == "vtt" else "") + "\n".join(cues)
        elif fmt == "text":
            body = text
        else:
            body = {"text": text, "usage": {"type": "duration", "seconds": math.ceil(duration)}}
        rec.answer = body
        return PlainTextResponse(body) if isinstance(body, str) else JSONResponse(body)


def create_app(service: AudioService) -> Starlette:
    return Starlette(routes=[Route(TRANSCRIPTIONS_PATH, service.transcriptions, methods=["POST"])])
