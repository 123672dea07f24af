"""Parsing a job submission (JSON or multipart) into JobOptions.

Contract: JSON with ``audio_url``, or multipart/form-data with an ``audio`` file part and
the same fields as form fields. Field rules live in fields.py. Uploads stay in memory and
audio_url schemes are only checked when the audio is fetched (the job is accepted, then
fails), as the vendor does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from . import fields
from .fields import OUTPUT_FORMATS
from .problems import invalid

__all__ = ["OUTPUT_FORMATS", "JobOptions", "Submission", "parse_submission"]


@dataclass(frozen=True, slots=True)
class JobOptions:
    channel: bool = False
    diarize: bool = False
    numerals: bool = False
    output_formats: tuple[str, ...] = ("json",)
    webhook_url: str | None = None
    language: str | None = None
    speakers_expected: int | None = None

    def public(self) -> dict[str, Any]:
        # Explicit rather than dataclasses.asdict: this runs on every job GET.
        return {
            "channel": self.channel,
            "diarize": self.diarize,
            "numerals": self.numerals,
            "output_formats": list(self.output_formats),
            "webhook_url": self.webhook_url,
            "language": self.language,
            "speakers_expected": self.speakers_expected,
        }


@dataclass(frozen=True, slots=True)
class Submission:
    options: JobOptions
    audio_url: str | None
    audio: bytes | None
    filename: str | None
    fingerprint: str  # identity of the request body, for Idempotency-Key checks


async def parse_submission(request: Request) -> Submission:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return await _parse_json(request)
    if content_type == "multipart/form-data":
        return await _parse_multipart(request)
    raise invalid("Content-Type must be application/json or multipart/form-data")


async def _parse_json(request: Request) -> Submission:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid("body must be a JSON object")
    audio_url = body.get("audio_url")
    if not isinstance(audio_url, str) or not audio_url:
        raise invalid("audio_url is required (or upload the audio as multipart/form-data)")
    options = JobOptions(
        channel=fields.json_bool(body, "channel"),
        diarize=fields.json_bool(body, "diarize"),
        numerals=fields.json_bool(body, "numerals"),
        output_formats=fields.json_formats(body.get("output_formats")),
        webhook_url=fields.webhook_url(body.get("webhook_url")),
        language=fields.language(body.get("language")),
        speakers_expected=fields.speakers_expected(body.get("speakers_expected"), from_form=False),
    )
    fields.check_modes(options.channel, options.diarize)
    fields.check_audio_url(audio_url)
    return Submission(options, audio_url, None, None, fields.fingerprint(options.public(), audio_url=audio_url))


async def _parse_multipart(request: Request) -> Submission:
    try:
        form: FormData = await request.form(max_files=2, max_fields=100)
    except Exception as exc:  # python-multipart raises several unrelated types
        raise invalid(f"malformed multipart body: {exc}") from exc
    try:
        upload = form.get("audio")
        audio_url = form.get("audio_url")
        options = JobOptions(
            channel=fields.form_bool(form, "channel"),
            diarize=fields.form_bool(form, "diarize"),
            numerals=fields.form_bool(form, "numerals"),
            output_formats=fields.form_formats(form),
            webhook_url=fields.webhook_url(form.get("webhook_url") or None),
            language=fields.language(form.get("language") or None),
            speakers_expected=fields.speakers_expected(form.get("speakers_expected") or None, from_form=True),
        )
        fields.check_modes(options.channel, options.diarize)
        if isinstance(upload, UploadFile):
            if audio_url:
                raise invalid("send either an audio file part or audio_url, not both")
            audio = await upload.read()
            digest = hashlib.sha256(audio).hexdigest()
            identity = fields.fingerprint(options.public(), audio_sha256=digest)
            return Submission(options, None, audio, upload.filename or "audio", identity)
        if upload is not None:
            raise invalid("audio must be a file part")
        if not isinstance(audio_url, str) or not audio_url:
            raise invalid("multipart submissions need an 'audio' file part")
        fields.check_audio_url(audio_url)
        return Submission(options, audio_url, None, None, fields.fingerprint(options.public(), audio_url=audio_url))
    finally:
        await form.close()
