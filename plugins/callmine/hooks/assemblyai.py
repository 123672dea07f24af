"""AssemblyAI v2 (async transcripts): one hook owning the HTTP, sync (worker) and async (triggerer).

Connection ``assemblyai_default`` (conn_type http): host = base URL (required: the US
``https://api.assemblyai.com`` or the EU ``https://api.eu.assemblyai.com``), password =
API key, e.g.::

    AIRFLOW_CONN_ASSEMBLYAI_DEFAULT='{"conn_type": "http", "host": "https://api.assemblyai.com", "password": "<key>"}'

The key goes in a bare ``authorization: <key>`` header (no ``Bearer``), never in a URL,
log line, exception or repr. Error bodies are ``{"error": "..."}``; a *failed transcript*
is not an HTTP error (200 with ``status: "error"``), so it is the provider's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from callmine.errors import (
    ProviderError, ProviderUnavailableError, RateLimitedError, error_from_response,
)
from callmine.retry import Backoff, retrying

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

DEFAULT_CONN_ID = "assemblyai_default"
TRANSCRIPT_PATH = "/v2/transcript"
UPLOAD_PATH = "/v2/upload"
SUBTITLE_FORMATS = ("srt", "vtt")


def connection_help(conn_id: str) -> str:
    env = f"AIRFLOW_CONN_{conn_id.upper()}"
    return (f"set it, e.g. {env}='{{\"conn_type\": \"http\", \"host\": \"https://api.assemblyai.com\", "
            f"\"password\": \"<your AssemblyAI API key>\"}}'")


class AssemblyAIConfigError(ValueError):
    """The Airflow connection is missing or incomplete (no host or no key): an operator must act."""


@dataclass(frozen=True, slots=True)
class AssemblyAIEndpoint:
    base_url: str
    api_key: str = field(repr=False)  # never in reprs, logs or exceptions
    conn_id: str = DEFAULT_CONN_ID

    @classmethod
    def from_connection(cls, conn: Any, conn_id: str = DEFAULT_CONN_ID) -> AssemblyAIEndpoint:
        host = (conn.host or "").strip()
        if not host:  # no silent default: the region (US / EU) decides where recordings go
            raise AssemblyAIConfigError(
                f"connection {conn_id!r} has no host (the AssemblyAI base URL): {connection_help(conn_id)}")
        if not conn.password:
            raise AssemblyAIConfigError(
                f"connection {conn_id!r} has no password (the AssemblyAI API key): {connection_help(conn_id)}")
        if "://" not in host:
            host = f"{conn.schema or 'https'}://{host}"
        if conn.port and host.count(":") < 2:
            host = f"{host}:{conn.port}"
        return cls(base_url=host.rstrip("/"), api_key=conn.password, conn_id=conn_id)

    def headers(self) -> dict[str, str]:
        return {"authorization": self.api_key}  # bare key: AssemblyAI does not take "Bearer"

    def scrub(self, text: str) -> str:
        """Belt and braces: an error body echoing the key must not carry it further."""
        return text.replace(self.api_key, "***") if self.api_key else text


def _error(ep: AssemblyAIEndpoint, response: httpx.Response, what: str) -> ProviderError:
    try:
        body = response.json()
    except ValueError:
        body = response.text[:300]
    # {"error": "..."} as the title: error_from_response reads RFC 7807 documents.
    message = str(body.get("error") or body) if isinstance(body, dict) else str(body)
    return error_from_response(response.status_code, ep.scrub(message), dict(response.headers), what=what)


def _transport_error(exc: httpx.TransportError, what: str) -> ProviderUnavailableError:
    # The key travels in a header, so neither the URL nor httpx's message can carry it.
    return ProviderUnavailableError(f"{what} failed: {type(exc).__name__}: {exc}")


def _never_sent(exc: Exception) -> bool:
    """Failures after which the server certainly did not act on a POST (safe to resend blindly)."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, RateLimitedError))


class AssemblyAIHook(BaseHook):  # type: ignore[misc,valid-type]
    """Talks to AssemblyAI's v2 REST API (or the test fake, ``tests.fake_assemblyai``)."""

    conn_name_attr = "conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "http"
    hook_name = "AssemblyAI"

    def __init__(
        self,
        conn_id: str = DEFAULT_CONN_ID,
        *,
        endpoint: AssemblyAIEndpoint | None = None,
        timeout_s: float = 30.0,
        upload_timeout_s: float = 600.0,
        max_attempts: int = 5,
        backoff: Backoff = Backoff(base_s=1.0, cap_s=30.0),
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self._endpoint = endpoint
        self.timeout = httpx.Timeout(timeout_s, connect=10.0)
        self.upload_timeout = httpx.Timeout(upload_timeout_s, connect=10.0)
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"AssemblyAIHook(conn_id={self.conn_id!r})"

    # -- connection --------------------------------------------------------------------
    def get_endpoint(self) -> AssemblyAIEndpoint:
        if self._endpoint is None:
            try:
                conn = self.get_connection(self.conn_id)
            except AirflowNotFoundException:
                raise AssemblyAIConfigError(
                    f"no Airflow connection {self.conn_id!r}: {connection_help(self.conn_id)}") from None
            self._endpoint = AssemblyAIEndpoint.from_connection(conn, self.conn_id)
        return self._endpoint

    async def aget_endpoint(self) -> AssemblyAIEndpoint:
        if self._endpoint is None:
            try:
                conn = await self.aget_connection(self.conn_id)
            except AirflowNotFoundException:
                raise AssemblyAIConfigError(
                    f"no Airflow connection {self.conn_id!r}: {connection_help(self.conn_id)}") from None
            self._endpoint = AssemblyAIEndpoint.from_connection(conn, self.conn_id)
        return self._endpoint

    get_conn = get_endpoint

    def _sync_client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- the sync retry loop -------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        already_done: Callable[[], dict[str, Any] | None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response | dict[str, Any]:
        """One request with bounded, jittered retries on 429 / 5xx / transport failures.

        ``already_done`` makes a non-idempotent POST safe to retry: after a failure the
        server may have acted on (5xx, read timeout) it is asked first, and what it finds
        is returned instead of sending again. If it cannot tell (raises), we do not resend.
        """
        ep = self.get_endpoint()
        client = self._sync_client()
        ambiguous = False  # sticky: once an attempt may have acted, ask before every resend
        for attempt in retrying(self.backoff, self.max_attempts, what=f"AssemblyAI {what}", log=self.log):
            with attempt:
                if ambiguous and already_done is not None:
                    found = already_done()
                    if found is not None:
                        self.log.info("AssemblyAI %s: the earlier attempt did succeed (%s)", what, found.get("id"))
                        return found
                try:
                    response = client.request(method, ep.base_url + path, headers=ep.headers(), **kwargs)
                except httpx.TransportError as exc:
                    ambiguous = ambiguous or not _never_sent(exc)
                    raise _transport_error(exc, what) from exc
                if response.is_success:
                    return response
                error: ProviderError = _error(ep, response, what)
                ambiguous = ambiguous or not _never_sent(error)
                raise error
        raise AssertionError("unreachable")

    def _send_json(self, method: str, path: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, path, what=what, **kwargs)
        assert isinstance(response, httpx.Response)
        return response.json()

    # -- sync API (worker) ---------------------------------------------------------------
    def upload(self, content: bytes) -> str:
        """POST the raw bytes to ``/v2/upload``; returns the ``upload_url`` to transcribe.

        A retried upload at worst leaves an orphan copy at AssemblyAI, so it retries freely.
        """
        return self._send_json("POST", UPLOAD_PATH, what="upload audio", content=content,
                               timeout=self.upload_timeout)["upload_url"]

    def create_transcript(
        self, body: dict[str, Any], *, already_created: Callable[[], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """POST ``/v2/transcript``; the transcript object (queued).

        AssemblyAI has no idempotency key, so a retry after a 5xx or timeout could create
        a second job: pass ``already_created`` (a lookup by ``audio_url``) to check first.
        """
        result = self._send("POST", TRANSCRIPT_PATH, what="create transcript", json=body,
                            already_done=already_created)
        return result.json() if isinstance(result, httpx.Response) else result

    def get_transcript(self, transcript_id: str) -> dict[str, Any]:
        return self._send_json("GET", f"{TRANSCRIPT_PATH}/{transcript_id}", what=f"get transcript {transcript_id}")

    def list_transcripts(
        self, limit: int = 100, before_id: str | None = None, *, status: str | None = None,
    ) -> dict[str, Any]:
        """One page, newest first; ``before_id`` pages towards older transcripts."""
        params: dict[str, Any] = {"limit": limit}
        if before_id:
            params["before_id"] = before_id
        if status:
            params["status"] = status
        return self._send_json("GET", TRANSCRIPT_PATH, what="list transcripts", params=params)

    def delete_transcript(self, transcript_id: str) -> dict[str, Any]:
        """DELETE the transcript's data (allowed once it is completed or error)."""
        return self._send_json("DELETE", f"{TRANSCRIPT_PATH}/{transcript_id}",
                               what=f"delete transcript {transcript_id}")

    # -- async API (triggerer / stage): single reads, the caller's rounds are the retry ----
    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.timeout, follow_redirects=False,
                                 limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))

    async def _aget(self, client: httpx.AsyncClient, path: str, *, what: str, **kwargs: Any) -> bytes:
        ep = await self.aget_endpoint()
        try:
            response = await client.get(ep.base_url + path, headers=ep.headers(), **kwargs)
        except httpx.TransportError as exc:
            raise _transport_error(exc, what) from None
        if not response.is_success:
            raise _error(ep, response, what)
        return response.content

    async def aget_transcript(self, client: httpx.AsyncClient, transcript_id: str) -> bytes:
        """The transcript object as raw JSON bytes (decoded by the caller into typed structs)."""
        return await self._aget(client, f"{TRANSCRIPT_PATH}/{transcript_id}", what=f"get transcript {transcript_id}")

    async def aget_subtitles(
        self, client: httpx.AsyncClient, transcript_id: str, fmt: str, *, chars_per_caption: int | None = None,
    ) -> bytes:
        if fmt not in SUBTITLE_FORMATS:
            raise ValueError(f"subtitle format {fmt!r} is not one of {SUBTITLE_FORMATS}")
        params = {"chars_per_caption": chars_per_caption} if chars_per_caption else None
        return await self._aget(client, f"{TRANSCRIPT_PATH}/{transcript_id}/{fmt}",
                                what=f"get {fmt} of transcript {transcript_id}", params=params)

