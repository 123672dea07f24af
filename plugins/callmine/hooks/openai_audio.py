"""Any OpenAI-compatible speech-to-text endpoint: ``POST /v1/audio/transcriptions``.

Connection ``openai_audio_default`` (conn_type http): host = base URL, password = API key
(bearer; optional for local servers), extra ``{"model": "whisper-1"}``, e.g.
``AIRFLOW_CONN_OPENAI_AUDIO_DEFAULT='{"conn_type": "http", "host": "https://api.openai.com",
"password": "sk-...", "extra": {"model": "whisper-1"}}'``, or callmine's embedded engine
(``http://127.0.0.1:8700``). ``CALLMINE_OPENAI_AUDIO_MODEL`` overrides the model. Optional
extra keys: ``max_upload_mb`` (per request, default 25: OpenAI's limit), ``timeout_s``,
``response_format`` (default ``verbose_json``; ``diarized_json`` for ``*-diarize`` models).

The request is synchronous and can take minutes, so there is no retry loop here: one
attempt, and the caller (a trigger) decides when to come back. The generic pieces
(``BearerEndpoint``, ``apost_json``) serve CallMissed's hook too. The key is never in
reprs, logs or exception messages (servers echo it masked: that is redacted as well).
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from callmine.errors import ProviderError, ProviderUnavailableError, error_from_response

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

DEFAULT_CONN_ID = "openai_audio_default"
MODEL_ENV = "CALLMINE_OPENAI_AUDIO_MODEL"
DEFAULT_MODEL = "whisper-1"
DEFAULT_MAX_UPLOAD_MB = 25.0
DEFAULT_TIMEOUT_S = 600.0  # a long call on a busy server; the trigger is cheap to keep waiting
TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
_MASKED_KEY = re.compile(r"\S*\*{3,}\S*")  # OpenAI echoes a bad key as sk-ab****wxyz


@dataclass(frozen=True, slots=True)
class BearerEndpoint:
    """A service at ``base_url`` taking an optional bearer key, resolved from a connection."""

    conn_id: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)  # never in reprs, logs or exceptions
    timeout_s: float = DEFAULT_TIMEOUT_S
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_connection(cls, conn: Any, conn_id: str, *, service: str, default_timeout_s: float) -> BearerEndpoint:
        host = (conn.host or "").strip()
        if not host:
            raise ProviderError(f"connection {conn_id!r} has no host: set it to the {service} base URL")
        if "://" not in host:  # URI-form connections split the URL into host/port/schema (the path)
            scheme = "http" if host in ("localhost", "127.0.0.1") else "https"
            host = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "") + (f"/{conn.schema}" if conn.schema else "")
        elif conn.port and host.count(":") < 2:
            host = f"{host}:{conn.port}"
        extra = dict(conn.extra_dejson or {})
        return cls(conn_id=conn_id, base_url=host.rstrip("/"), api_key=conn.password or None,
                   timeout_s=float(extra.get("timeout_s") or default_timeout_s), extra=extra)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def url(self, path: str) -> str:
        """``path`` under the base URL; a base that already ends in ``/v1`` is not doubled."""
        if self.base_url.endswith("/v1") and path.startswith("/v1/"):
            return self.base_url + path[3:]
        return self.base_url + path

    def redact(self, text: str, limit: int = 300) -> str:
        """A server message fit for a log line or an exception: one line, no key, no masked key."""
        if self.api_key:
            text = text.replace(self.api_key, "<redacted>")
        text = " ".join(_MASKED_KEY.sub("<redacted>", text).split())
        return text if len(text) <= limit else text[: limit - 3] + "..."


def missing_connection(conn_id: str, service: str, example: str) -> ProviderError:
    """Not retryable and without a status: providers report it as Fatal (an operator must act)."""
    return ProviderError(f"no Airflow connection {conn_id!r} for {service}: create it, e.g. {example}")


def _error_text(body: Any) -> tuple[str | None, str | None]:
    """(message, code) from the error shapes seen in the wild: OpenAI's ``{"error": {...}}``,
    FastAPI's ``{"detail": ...}``, ``{"message": ...}``, ``{"error": "..."}``, or plain text."""
    if isinstance(body, str):
        return body or None, None
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        if error.get("param") == "model" and error.get("code") != "missing_required_parameter":
            code = "model_not_found"  # a bad model is the configuration's fault, not the file's
        return (str(error.get("message")) if error.get("message") else None), (str(code) if code else None)
    detail = body.get("detail") or body.get("message") or error
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return (str(detail) if detail else None), (str(body["code"]) if body.get("code") else None)


async def apost_json(client: httpx.AsyncClient, endpoint: BearerEndpoint, path: str, *, what: str,
                     **kwargs: Any) -> dict[str, Any]:
    """One POST; the JSON object answered, or a ``ProviderError`` (retryable for 429/5xx/transport)."""
    try:
        response = await client.post(endpoint.url(path), headers=endpoint.headers(),
                                     timeout=httpx.Timeout(endpoint.timeout_s, connect=15.0), **kwargs)
    except httpx.TimeoutException:
        raise ProviderUnavailableError(f"{what} timed out after {endpoint.timeout_s:.0f} s") from None
    except httpx.TransportError as exc:
        raise ProviderUnavailableError(f"{what} failed: {type(exc).__name__}: {endpoint.redact(str(exc))}") from None
    if not response.is_success:
        try:
            decoded: Any = response.json()
        except ValueError:
            decoded = response.text[:500]
        message, code = _error_text(decoded)
        headers = dict(response.headers)
        if response.headers.get("retry-after-ms", "").isdigit():  # OpenAI's finer-grained hint
            headers["retry-after"] = str(int(response.headers["retry-after-ms"]) / 1000)
        problem = {"title": endpoint.redact(message or response.reason_phrase or ""), "type": code or ""}
        raise error_from_response(response.status_code, problem, headers, what=what)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ProviderUnavailableError(f"{what}: HTTP {response.status_code} but the body is not a JSON object")
    return answer


@dataclass(frozen=True, slots=True)
class OpenAIAudioSettings:
    endpoint: BearerEndpoint
    model: str
    max_upload_bytes: int
    response_format: str

    @classmethod
    def from_endpoint(cls, endpoint: BearerEndpoint) -> OpenAIAudioSettings:
        extra = endpoint.extra
        model = os.environ.get(MODEL_ENV) or str(extra.get("model") or "").strip() or DEFAULT_MODEL
        default_format = "diarized_json" if model.endswith("-diarize") else "verbose_json"
        return cls(
            endpoint=endpoint,
            model=model,
            max_upload_bytes=int(float(extra.get("max_upload_mb") or DEFAULT_MAX_UPLOAD_MB) * 1024 * 1024),
            response_format=str(extra.get("response_format") or default_format),
        )


_EXAMPLE = ("AIRFLOW_CONN_OPENAI_AUDIO_DEFAULT='{\"conn_type\": \"http\", \"host\": \"https://api.openai.com\", "
            "\"password\": \"<api key>\", \"extra\": {\"model\": \"whisper-1\"}}'")


class OpenAIAudioHook(BaseHook):  # type: ignore[misc,valid-type]
    """Resolves ``openai_audio_default`` and sends one recording (or one channel) per request."""

    conn_name_attr = "openai_audio_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "http"
    hook_name = "OpenAI-compatible speech-to-text"

    def __init__(self, conn_id: str = DEFAULT_CONN_ID, *, settings: OpenAIAudioSettings | None = None) -> None:
        super().__init__()
        self.openai_audio_conn_id = conn_id
        self._settings = settings

    def _from_connection(self, conn: Any) -> OpenAIAudioSettings:
        endpoint = BearerEndpoint.from_connection(conn, self.openai_audio_conn_id, service="OpenAI-compatible API",
                                                  default_timeout_s=DEFAULT_TIMEOUT_S)
        return OpenAIAudioSettings.from_endpoint(endpoint)

    def get_settings(self) -> OpenAIAudioSettings:
        if self._settings is None:
            try:
                conn = self.get_connection(self.openai_audio_conn_id)
            except AirflowNotFoundException:
                raise missing_connection(self.openai_audio_conn_id, "OpenAI-compatible transcription", _EXAMPLE) from None
            self._settings = self._from_connection(conn)
        return self._settings

    async def aget_settings(self) -> OpenAIAudioSettings:
        """The non-blocking lookup for triggers; cached for the hook's life."""
        if self._settings is None:
            try:
                conn = await self.aget_connection(self.openai_audio_conn_id)
            except AirflowNotFoundException:
                raise missing_connection(self.openai_audio_conn_id, "OpenAI-compatible transcription", _EXAMPLE) from None
            self._settings = self._from_connection(conn)
        return self._settings

    def async_client(self) -> httpx.AsyncClient:
        # Timeouts are set per request from the connection; no redirects (they would drop the key).
        return httpx.AsyncClient(follow_redirects=False, limits=httpx.Limits(max_connections=32))

    async def atranscribe(
        self,
        client: httpx.AsyncClient,
        filename: str,
        content: bytes,
        *,
        model: str | None = None,
        language: str | None = None,
        response_format: str | None = None,
        granularities: Sequence[str] = ("word", "segment"),
        chunking_strategy: str | None = None,
    ) -> dict[str, Any]:
        """One transcription request; the JSON answer (``ProviderError`` when refused or failed)."""
        settings = await self.aget_settings()
        fmt = response_format or settings.response_format
        data: dict[str, Any] = {"model": model or settings.model, "response_format": fmt}
        if language:
            data["language"] = language.split("-")[0].lower()  # ISO-639-1: OpenAI wants "en", not "en-US"
        if fmt == "verbose_json" and granularities:  # only verbose_json takes granularities
            data["timestamp_granularities[]"] = list(granularities)
        if fmt == "diarized_json":
            data["chunking_strategy"] = chunking_strategy or "auto"  # required beyond 30 s of audio
        self.log.info("transcribing %s (%d bytes, %s, %s) at %s", filename, len(content), data["model"], fmt,
                      settings.endpoint.base_url)
        return await apost_json(client, settings.endpoint, TRANSCRIPTIONS_PATH, what=f"transcription of {filename}",
                                data=data, files={"file": (filename, content, content_type(filename))})


def content_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"
