"""The HTTP surface: ``POST /api/v1/analytics/calls/analyze`` and ``.../question``.

Checks in the order a careful real server would: auth (401), size (413), format by file
name (415), content (400: empty or not the format its name says), then the injected 5xx,
then latency, then the answer.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.background_server import RequestLog

from . import answers
from .config import ACCEPTED_FORMATS, CallMissedConfig, RecordedRequest

ANALYZE_PATH = "/api/v1/analytics/calls/analyze"
QUESTION_PATH = "/api/v1/analytics/calls/question"
_CHUNK = 1 << 20


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def sniff_format(head: bytes) -> str | None:
    """The container a file's first bytes announce (None when unrecognized)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1aE\xdf\xa3":
        return "webm"
    if head[4:8] == b"ftyp":
        return "mp4"  # also m4a: same container
    if head[:6] == b"#!AMR\n" or head[:9] == b"#!AMR-WB\n":
        return "amr"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3_or_aac"  # MPEG audio and ADTS AAC share the sync word
    return None


_COMPATIBLE = {"wav": {"wav"}, "flac": {"flac"}, "ogg": {"ogg"}, "webm": {"webm"}, "mp4": {"mp4", "m4a"},
               "amr": {"amr"}, "mp3_or_aac": {"mp3", "aac"}}


class CallMissedService(RequestLog[RecordedRequest]):
    def __init__(self, config: CallMissedConfig) -> None:
        super().__init__()
        self.config = config

    def _denied(self, request: Request) -> JSONResponse | None:
        if not self.config.api_keys:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.config.api_keys:
            return _error(401, "Invalid or expired access token", {"WWW-Authenticate": "Bearer"})
        return None

    async def analyze(self, request: Request) -> JSONResponse:
        rec = RecordedRequest(request.method, request.url.path)
        self.requests.append(rec)
        with self.counted_in_flight():
            response = await self._analyze(request, rec)
        rec.status = response.status_code
        return response

    async def _analyze(self, request: Request, rec: RecordedRequest) -> JSONResponse:
        cfg = self.config
        if (denied := self._denied(request)) is not None:
            return denied
        rec.authorized = True
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > cfg.max_upload_bytes + _CHUNK:
            return _error(413, f"File too large. Maximum size is {cfg.max_upload_bytes // (1024 * 1024)} MB")
        try:
            form = await request.form(max_files=1, max_fields=20)
        except Exception:  # python-multipart raises several unrelated types
            return _error(400, "Malformed multipart body")
        try:
            upload = form.get("file")
            language = form.get("language")
            rec.language = language if isinstance(language, str) and language else None
            if not isinstance(upload, UploadFile):
                return _error(422, "Field required: file")
            rec.filename, rec.content_type = upload.filename, upload.content_type
            content = await upload.read()
        finally:
            await form.close()
        rec.size = len(content)
        if len(content) > cfg.max_upload_bytes:
            return _error(413, f"File too large. Maximum size is {cfg.max_upload_bytes // (1024 * 1024)} MB")
        ext = (rec.filename or "").rsplit(".", 1)[-1].lower() if "." in (rec.filename or "") else ""
        if ext not in ACCEPTED_FORMATS:
            return _error(415, f"Unsupported file format {('.' + ext) if ext else '(no extension)'}. "
                          f"Supported formats: {', '.join(f.upper() for f in ACCEPTED_FORMATS)}")
        sniffed = sniff_format(content[:16])
        if not content or sniffed is None or ext not in _COMPATIBLE[sniffed]:
            return _error(400, "Could not decode audio file: the content is not a valid "
                          f"{ext.upper()} file")
        if cfg.server_error_times > 0:
            cfg.server_error_times -= 1
            return _error(cfg.server_error_status, "Internal server error")
        if cfg.latency_s > 0:
            await asyncio.sleep(cfg.latency_s)
        transcript = cfg.transcript if cfg.transcript is not None else answers.TRANSCRIPT
        timing = cfg.speaker_timing if cfg.speaker_timing is not None else answers.speaker_timing_for(content, transcript)
        analysis = cfg.analysis if cfg.analysis is not None else answers.ANALYSIS_VARIANTS[cfg.analysis_variant]
        return JSONResponse({
            "transcript": transcript,
            "speaker_timing": timing,
            "analysis": analysis,
            "summary": cfg.summary if cfg.summary is not None else answers.SUMMARY,
            "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        })

    async def question(self, request: Request) -> JSONResponse:
        rec = RecordedRequest(request.method, request.url.path)
        self.requests.append(rec)
        response = await self._question(request, rec)
        rec.status = response.status_code
        return response

    async def _question(self, request: Request, rec: RecordedRequest) -> JSONResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        rec.authorized = True
        try:
            body: Any = json.loads(await request.body())
        except ValueError:
            return _error(400, "Body must be JSON")
        rec.json = body if isinstance(body, dict) else None
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body[k] for k in ("transcript", "question")):
            return _error(422, "Fields required: transcript, question")
        if self.config.latency_s > 0:
            await asyncio.sleep(self.config.latency_s)
        return JSONResponse({"answer": answers.answer_question(body["transcript"], body["question"])})


def create_app(service: CallMissedService) -> Starlette:
    return Starlette(routes=[
        Route(ANALYZE_PATH, service.analyze, methods=["POST"]),
        Route(QUESTION_PATH, service.question, methods=["POST"]),
    ])

