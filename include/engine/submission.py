"""Parsing a job submission (JSON or multipart) into validated options.

Bodies are read under limits counted while they stream (bodies.py): JSON up to
``max_json_bytes``, uploads streamed to data_dir/audio/ under a temporary name while being
hashed, stopped at ``max_upload_mb``; the caller renames the file to the job id once the
job row exists (or deletes it on replay). ``file://`` URLs are checked against the file
roots here (sources.py), models against the allow-list.
"""

from __future__ import annotations

from callmine.dialects import pyai_hear as dialect  # field names shared with the client

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request

from .bodies import audio_too_large, read_limited, read_multipart
from .config import MAX_JSON_BYTES, EngineConfig
from .problems import ProblemError, invalid
from .sources import FILE_URL_REFUSED, MAX_URL_LENGTH, SourceRefused, resolve_file_url

# The field parsers below (json_bool ... speakers_field, fingerprint) are public: the fake
# PyAI service in tests/ validates submissions with them.

OUTPUT_FORMATS = ("json", "srt", "vtt")
AUDIO_URL_SCHEMES = ("file", "http", "https")
MAX_JSON_BODY = MAX_JSON_BYTES
MULTIPART_OVERHEAD = 1024 * 1024  # form fields + boundaries allowed beyond the audio limit
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(slots=True)
class Submission:
    options: dict[str, Any]
    audio_url: str | None
    upload_path: Path | None  # temp file under data_dir/audio/
    filename: str | None
    fingerprint: str

    def discard_upload(self) -> None:
        if self.upload_path is not None:
            self.upload_path.unlink(missing_ok=True)


def too_large(size: int, limit: int) -> ProblemError:
    return audio_too_large(limit, size)


async def parse_submission(request: Request, config: EngineConfig) -> Submission:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return await _parse_json(request, config)
    if content_type == "multipart/form-data":
        return await _parse_multipart(request, config)
    raise invalid("Content-Type must be application/json or multipart/form-data")


async def read_json_submission(request: Request, limit: int = MAX_JSON_BODY) -> tuple[dict, str]:
    """A JSON submit's body (at most ``limit`` bytes, counted as it streams) and its required ``audio_url``."""
    raw = await read_limited(request, limit, "JSON body")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid("body must be a JSON object")
    audio_url = body.get(dialect.AUDIO_URL)
    if not isinstance(audio_url, str) or not audio_url:
        raise invalid("audio_url is required (or upload the audio as multipart/form-data)")
    return body, audio_url


async def _parse_json(request: Request, config: EngineConfig) -> Submission:
    body, audio_url = await read_json_submission(request, config.max_json_bytes)
    options = _options(
        config,
        channel=json_bool(body, dialect.CHANNEL),
        diarize=json_bool(body, dialect.DIARIZE),
        numerals=json_bool(body, dialect.NUMERALS),
        formats=json_formats(body.get(dialect.OUTPUT_FORMATS)),
        webhook_url=body.get(dialect.WEBHOOK_URL),
        language=body.get(dialect.LANGUAGE),
        speakers=speakers_field(body.get(dialect.SPEAKERS_EXPECTED), from_form=False),
        model=body.get("model"),
    )
    check_audio_url(audio_url, config)
    return Submission(options, audio_url, None, None, fingerprint(options, audio_url=audio_url))


async def _parse_multipart(request: Request, config: EngineConfig) -> Submission:
    form = await read_multipart(request, file_field=dialect.AUDIO_PART, upload_dir=config.data_dir / "audio",
                                max_file_bytes=config.max_upload_bytes, overhead=MULTIPART_OVERHEAD)
    try:
        fields, upload = form.fields, form.file
        audio_url = fields.get(dialect.AUDIO_URL)
        options = _options(
            config,
            channel=form_bool(fields, dialect.CHANNEL),
            diarize=form_bool(fields, dialect.DIARIZE),
            numerals=form_bool(fields, dialect.NUMERALS),
            formats=form_formats(fields),
            webhook_url=fields.get(dialect.WEBHOOK_URL) or None,
            language=fields.get(dialect.LANGUAGE) or None,
            speakers=speakers_field(fields.get(dialect.SPEAKERS_EXPECTED) or None, from_form=True),
            model=fields.get("model") or None,
        )
        if upload is not None:
            if audio_url:
                raise invalid("send either an audio file part or audio_url, not both")
            identity = fingerprint(options, audio_sha256=upload.sha256)
            return Submission(options, None, upload.path, upload.filename or "audio", identity)
        if dialect.AUDIO_PART in fields:
            raise invalid("audio must be a file part")
        if not isinstance(audio_url, str) or not audio_url:
            raise invalid("multipart submissions need an 'audio' file part")
        check_audio_url(audio_url, config)
        return Submission(options, audio_url, None, None, fingerprint(options, audio_url=audio_url))
    except BaseException:
        form.discard()
        raise


def fingerprint(options: dict[str, Any], **source: str) -> str:
    canonical = json.dumps({"options": options, **source}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _options(config: EngineConfig, *, channel: bool, diarize: bool, numerals: bool, formats: list[str],
             webhook_url: Any, language: Any, speakers: int | None, model: Any) -> dict[str, Any]:
    check_modes(channel, diarize)
    webhook_url, language = webhook_field(webhook_url), language_field(language)
    if model is not None and (not isinstance(model, str) or not _MODEL.match(model)):
        raise invalid("model must be a model name such as 'tiny.en' or 'base'")
    check_model(model, config)
    return {
        "channel": channel,
        "diarize": diarize,
        "numerals": numerals,  # accepted, not used by the engine
        "output_formats": normalize_formats(formats),
        "webhook_url": webhook_url,
        "language": language,
        "speakers_expected": speakers,
        "model": model or config.model,
    }


def check_modes(channel: bool, diarize: bool) -> None:
    if channel and diarize:
        raise invalid("channel and diarize are mutually exclusive: use channel for stereo, diarize for mono")


def webhook_field(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not re.match(r"^https?://\S+$", value)):
        raise invalid("webhook_url must be an http(s) URL")
    return value


def language_field(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not _BCP47.match(value)):
        raise invalid("language must be a BCP-47 tag such as 'en' or 'en-US'")
    return value


def check_model(model: str | None, config: EngineConfig) -> None:
    """A request may only pick a model of the allow-list (default: the configured model)."""
    allowed = config.models_in_force()
    if model is not None and model not in allowed:
        raise invalid(f"model {model!r} is not enabled on this engine; allowed: {', '.join(allowed)}")


def check_audio_url(url: str, config: EngineConfig) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise invalid(f"audio_url longer than {MAX_URL_LENGTH} characters")
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://\S+$", url)
    if not match:
        raise invalid("audio_url must be an absolute URL (file://, http:// or https://)")
    scheme = match.group(1).lower()
    if scheme not in AUDIO_URL_SCHEMES:
        raise ProblemError(422, "unprocessable", f"audio_url scheme {match.group(1)!r} is not supported; "
                           "use file://, http:// or https://")
    if scheme == "file":
        try:
            resolve_file_url(url, config.file_roots_in_force(), config.data_dir, config.private_dirs())
        except SourceRefused:
            raise ProblemError(422, "unprocessable", FILE_URL_REFUSED) from None


def json_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"{name} must be a boolean")
    return value


def form_bool(form: FormData, name: str) -> bool:
    value = form.get(name)
    if value is None or value == "":
        return False
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid(f"{name} must be 'true' or 'false'")


def json_formats(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise invalid("output_formats must be a list of strings")


def form_formats(form: FormData) -> list[str]:
    values: list[str] = []
    for raw in form.getlist("output_formats") + form.getlist("output_formats[]"):
        if not isinstance(raw, str):
            raise invalid("output_formats must be text fields")
        values.extend(raw.split(","))
    return values


def normalize_formats(values: list[str]) -> list[str]:
    cleaned = [value.strip().lower() for value in values if value.strip()]
    unknown = sorted(set(cleaned) - set(OUTPUT_FORMATS))
    if unknown:
        raise invalid(f"unsupported output_formats {unknown}; allowed: {list(OUTPUT_FORMATS)}")
    return list(dict.fromkeys(cleaned)) or ["json"]


def speakers_field(value: Any, *, from_form: bool) -> int | None:
    if value is None:
        return None
    if from_form and isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        raise invalid("speakers_expected must be an integer between 1 and 10")
    return value
