"""Validation of the submit fields, as the contract describes them.

JSON bodies carry real booleans and lists; multipart forms carry text, so booleans are
"true"/"false" and output_formats may be repeated fields or comma-separated. Every
rejection is a 400 validation_error problem.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from starlette.datastructures import FormData

from .problems import invalid

OUTPUT_FORMATS = ("json", "srt", "vtt")
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_HTTP_URL = re.compile(r"^https?://\S+$")
_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


def json_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):  # "true" or 1 are not booleans in JSON
        raise invalid(f"{name} must be a boolean")
    return value


def form_bool(form: FormData, name: str) -> bool:
    value = form.get(name)
    if value is None or value == "":
        return False
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid(f"{name} must be 'true' or 'false'")


def json_formats(value: Any) -> tuple[str, ...]:
    if value is None:
        return formats([])
    if isinstance(value, str):
        return formats(value.split(","))
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return formats(value)
    raise invalid("output_formats must be a list of strings")


def form_formats(form: FormData) -> tuple[str, ...]:
    values: list[str] = []
    for raw in [*form.getlist("output_formats"), *form.getlist("output_formats[]")]:
        if not isinstance(raw, str):
            raise invalid("output_formats must be text fields")
        values.extend(raw.split(","))
    return formats(values)


def formats(values: list[str]) -> tuple[str, ...]:
    """Known formats, de-duplicated in the order given; json alone when none are asked for."""
    cleaned = [value.strip().lower() for value in values if value.strip()]
    unknown = sorted(set(cleaned) - set(OUTPUT_FORMATS))
    if unknown:
        raise invalid(f"unsupported output_formats {unknown}; allowed: {list(OUTPUT_FORMATS)}")
    return tuple(dict.fromkeys(cleaned)) or ("json",)


def webhook_url(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HTTP_URL.match(value):
        raise invalid("webhook_url must be an http(s) URL")
    return value


def language(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _BCP47.match(value):
        raise invalid("language must be a BCP-47 tag such as 'en' or 'en-US'")
    return value


def speakers_expected(value: Any, *, from_form: bool) -> int | None:
    if value is None:
        return None
    if from_form and isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        raise invalid("speakers_expected must be an integer between 1 and 10")
    return value


def check_modes(channel: bool, diarize: bool) -> None:
    # Contract: channel is for stereo, diarize for mono; "never both".
    if channel and diarize:
        raise invalid("channel and diarize are mutually exclusive: use channel for stereo, diarize for mono")


def check_audio_url(url: str) -> None:
    # Scheme policy (https only) is enforced when the service fetches, as the vendor does:
    # the job is accepted, stays queued, then fails. Only non-URLs are rejected up front.
    if not _ABSOLUTE_URL.match(url):
        raise invalid("audio_url must be an absolute URL")


def fingerprint(options: dict[str, Any], **source: str) -> str:
    """Identity of a submit for Idempotency-Key checks: canonical JSON of the *parsed* request,
    so JSON key order and form encoding do not make two equal submits differ."""
    canonical = json.dumps({"options": options, **source}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
