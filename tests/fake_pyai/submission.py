"""Parsing and validating a job submission (JSON or multipart) into JobOptions.

Field validation is the engine's (include.engine.submission): booleans must be booleans in
JSON and "true"/"false" in forms, output_formats may be repeated form fields or
comma-separated, channel and diarize are mutually exclusive. The fake keeps its own flow:
uploads stay in memory, options are a frozen JobOptions, and audio_url schemes are only
checked when the audio is fetched (the job is accepted, then fails), as the vendor does.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from include.engine.submission import (
    OUTPUT_FORMATS,
    check_modes,
    fingerprint,
    form_bool,
    form_formats,
    json_bool,
    json_formats,
    language_field,
    normalize_formats,
    read_json_submission,
    speakers_field,
    webhook_field,
)

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
    body, audio_url = await read_json_submission(request)
    options = JobOptions(
        channel=json_bool(body, "channel"),
        diarize=json_bool(body, "diarize"),
        numerals=json_bool(body, "numerals"),
        output_formats=tuple(normalize_formats(json_formats(body.get("output_formats")))),
        webhook_url=webhook_field(body.get("webhook_url")),
        language=language_field(body.get("language")),
        speakers_expected=speakers_field(body.get("speakers_expected"), from_form=False),
    )
    check_modes(options.channel, options.diarize)
    _check_audio_url(audio_url)
    return Submission(options, audio_url, None, None, fingerprint(options.public(), audio_url=audio_url))


async def _parse_multipart(request: Request) -> Submission:
    try:
        form: FormData = await request.form(max_files=2, max_fields=100)
    except Exception as exc:  # python-multipart raises several unrelated types
        raise invalid(f"malformed multipart body: {exc}") from exc
    try:
        upload = form.get("audio")
        audio_url = form.get("audio_url")
        options = JobOptions(
            channel=form_bool(form, "channel"),
            diarize=form_bool(form, "diarize"),
            numerals=form_bool(form, "numerals"),
            output_formats=tuple(normalize_formats(form_formats(form))),
            webhook_url=webhook_field(form.get("webhook_url") or None),
            language=language_field(form.get("language") or None),
            speakers_expected=speakers_field(form.get("speakers_expected") or None, from_form=True),
        )
        check_modes(options.channel, options.diarize)
        if isinstance(upload, UploadFile):
            if audio_url:
                raise invalid("send either an audio file part or audio_url, not both")
            audio = await upload.read()
            digest = hashlib.sha256(audio).hexdigest()
            identity = fingerprint(options.public(), audio_sha256=digest)
            return Submission(options, None, audio, upload.filename or "audio", identity)
        if upload is not None:
            raise invalid("audio must be a file part")
        if not isinstance(audio_url, str) or not audio_url:
            raise invalid("multipart submissions need an 'audio' file part")
        _check_audio_url(audio_url)
        return Submission(options, audio_url, None, None, fingerprint(options.public(), audio_url=audio_url))
    finally:
        await form.close()


def _check_audio_url(url: str) -> None:
    # Scheme policy (https only) is enforced when the service fetches, as the vendor does:
    # the job is accepted, then fails. Only non-URLs are rejected up front.
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$", url):
        raise invalid("audio_url must be an absolute URL")
