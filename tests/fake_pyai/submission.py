"""Parsing and validating a job submission (JSON or multipart) into JobOptions.

Validation mirrors the vendor: booleans must be booleans in JSON and "true"/"false"
in forms, output_formats may be repeated form fields or comma-separated,
channel and diarize are mutually exclusive.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from .problems import ProblemError

OUTPUT_FORMATS = ("json", "srt", "vtt")
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


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


def _invalid(detail: str) -> ProblemError:
    return ProblemError(400, "validation_error", detail)


async def parse_submission(request: Request) -> Submission:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return await _parse_json(request)
    if content_type == "multipart/form-data":
        return await _parse_multipart(request)
    raise _invalid("Content-Type must be application/json or multipart/form-data")


async def _parse_json(request: Request) -> Submission:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise _invalid("body must be a JSON object")
    audio_url = body.get("audio_url")
    if not isinstance(audio_url, str) or not audio_url:
        raise _invalid("audio_url is required (or upload the audio as multipart/form-data)")
    options = JobOptions(
        channel=_json_bool(body, "channel"),
        diarize=_json_bool(body, "diarize"),
        numerals=_json_bool(body, "numerals"),
        output_formats=_formats(_json_formats(body.get("output_formats"))),
        webhook_url=_webhook(body.get("webhook_url")),
        language=_language(body.get("language")),
        speakers_expected=_speakers(body.get("speakers_expected"), from_form=False),
    )
    _check_options(options)
    _check_audio_url(audio_url)
    return Submission(options, audio_url, None, None, _fingerprint(options, audio_url=audio_url))


async def _parse_multipart(request: Request) -> Submission:
    try:
        form: FormData = await request.form(max_files=2, max_fields=100)
    except Exception as exc:  # python-multipart raises several unrelated types
        raise _invalid(f"malformed multipart body: {exc}") from exc
    try:
        upload = form.get("audio")
        audio_url = form.get("audio_url")
        options = JobOptions(
            channel=_form_bool(form, "channel"),
            diarize=_form_bool(form, "diarize"),
            numerals=_form_bool(form, "numerals"),
            output_formats=_formats(_form_formats(form)),
            webhook_url=_webhook(form.get("webhook_url") or None),
            language=_language(form.get("language") or None),
            speakers_expected=_speakers(form.get("speakers_expected") or None, from_form=True),
        )
        _check_options(options)
        if isinstance(upload, UploadFile):
            if audio_url:
                raise _invalid("send either an audio file part or audio_url, not both")
            audio = await upload.read()
            digest = hashlib.sha256(audio).hexdigest()
            fingerprint = _fingerprint(options, audio_sha256=digest)
            return Submission(options, None, audio, upload.filename or "audio", fingerprint)
        if upload is not None:
            raise _invalid("audio must be a file part")
        if not isinstance(audio_url, str) or not audio_url:
            raise _invalid("multipart submissions need an 'audio' file part")
        _check_audio_url(audio_url)
        return Submission(options, audio_url, None, None, _fingerprint(options, audio_url=audio_url))
    finally:
        await form.close()


def _fingerprint(options: JobOptions, **source: str) -> str:
    # Canonical JSON of the *parsed* request, so field order / form encoding do not matter.
    canonical = json.dumps({"options": options.public(), **source}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_options(options: JobOptions) -> None:
    if options.channel and options.diarize:
        raise _invalid("channel and diarize are mutually exclusive: use channel for stereo, diarize for mono")


def _check_audio_url(url: str) -> None:
    # Scheme policy (https only) is enforced when the service fetches, as the vendor does:
    # the job is accepted, then fails. Only non-URLs are rejected up front.
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$", url):
        raise _invalid("audio_url must be an absolute URL")


def _json_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(f"{name} must be a boolean")
    return value


def _form_bool(form: FormData, name: str) -> bool:
    value = form.get(name)
    if value is None or value == "":
        return False
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _invalid(f"{name} must be 'true' or 'false'")


def _json_formats(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise _invalid("output_formats must be a list of strings")


def _form_formats(form: FormData) -> list[str]:
    values: list[str] = []
    for raw in form.getlist("output_formats") + form.getlist("output_formats[]"):
        if not isinstance(raw, str):
            raise _invalid("output_formats must be text fields")
        values.extend(raw.split(","))
    return values


def _formats(values: list[str]) -> tuple[str, ...]:
    cleaned = [value.strip().lower() for value in values if value.strip()]
    unknown = sorted(set(cleaned) - set(OUTPUT_FORMATS))
    if unknown:
        raise _invalid(f"unsupported output_formats {unknown}; allowed: {list(OUTPUT_FORMATS)}")
    if not cleaned:
        return ("json",)
    return tuple(dict.fromkeys(cleaned))  # de-duplicate, keep order


def _webhook(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(r"^https?://\S+$", value):
        raise _invalid("webhook_url must be an http(s) URL")
    return value


def _language(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _BCP47.match(value):
        raise _invalid("language must be a BCP-47 tag such as 'en' or 'en-US'")
    return value


def _speakers(value: Any, *, from_form: bool) -> int | None:
    if value is None:
        return None
    if from_form and isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        raise _invalid("speakers_expected must be an integer between 1 and 10")
    return value
