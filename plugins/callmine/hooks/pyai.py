"""PyAI Hear async jobs API: one hook owning the HTTP, sync (operators) and async (triggers).

Connection ``pyai_default`` (conn_type http): host = base URL, password = API key, e.g.
``AIRFLOW_CONN_PYAI_DEFAULT='{"conn_type": "http", "host": "http://127.0.0.1:8700", "password": "..."}'``.
With no such connection the hook talks to callmine's embedded engine
(``CALLMINE_ENGINE_URL``, default ``http://127.0.0.1:8700``, no key).
The key is sent as a bearer token to the API host only: signed ``result_url`` and
subtitle URLs point elsewhere and are fetched without it.

Answers are not trusted blindly: a 2xx whose body is not a JSON object (a proxy's
HTML page, a cut-off body) is an ``UnusableAnswerError`` naming what was asked, and a
signed URL is only followed over https (or http when the API itself is plain http, as
the local engine is): ``file://``, ``ftp://`` or an https API handing out an http URL
is refused with ``RefusedURLError`` before any request, so nothing local is ever opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from callmine.config import env_default
from callmine.errors import ProviderError, ProviderUnavailableError, error_from_response
from callmine.retry import Backoff, retrying

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from callmine.dialects.pyai_hear import IDEMPOTENCY_KEY, JOBS_PATH  # noqa: E402 - shared with the engine
DEFAULT_ENGINE_URL = "http://127.0.0.1:8700"  # `python -m include.engine` defaults


class UnusableAnswerError(ProviderError):
    """A 2xx answer whose body is not the JSON document the API promises (never retried: it is not an outage)."""


class RefusedURLError(ProviderError):
    """A URL from the service that must not be followed (unexpected scheme, no host)."""


@dataclass(frozen=True, slots=True)
class PyAIEndpoint:
    base_url: str
    api_key: str | None = field(default=None, repr=False)  # never in reprs, logs or exceptions

    @classmethod
    def from_connection(cls, conn: Any) -> PyAIEndpoint:
        host = (conn.host or "").strip()
        if not host:
            raise ValueError(f"connection {conn.conn_id!r} has no host (the PyAI base URL)")
        if "://" not in host:
            scheme = conn.schema or "https"
            host = f"{scheme}://{host}"
        if conn.port and host.count(":") < 2:
            host = f"{host}:{conn.port}"
        return cls(base_url=host.rstrip("/"), api_key=conn.password or None)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


@dataclass(frozen=True, slots=True)
class Upload:
    """An audio file to send as the multipart ``audio`` part."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _snippet(response: httpx.Response) -> str:
    """The start of a body, safe for one log line (an HTML page, a truncated JSON)."""
    text = response.content[:80].decode("utf-8", "replace")
    return "".join(c if c.isprintable() else " " for c in text)


def json_document(response: httpx.Response, what: str) -> dict[str, Any]:
    """The answer's JSON object, or ``UnusableAnswerError`` saying what came instead."""
    content_type = response.headers.get("content-type", "no content type")
    try:
        document = response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise UnusableAnswerError(
            f"{what}: the service answered {response.status_code} with a body that is not JSON "
            f"({content_type}, {len(response.content)} bytes: {_snippet(response)!r})",
            status=response.status_code,
        ) from None
    if not isinstance(document, dict):
        raise UnusableAnswerError(
            f"{what}: the service answered {response.status_code} with JSON that is not an object "
            f"({type(document).__name__})",
            status=response.status_code,
        )
    return document


def check_signed_url(url: str, api_base_url: str, *, what: str) -> None:
    """Refuse a signed URL we must not follow: only https, or http when the API itself is http.

    An https API handing out an http URL would send the result (a call's transcript) in
    clear text; ``file://`` and other schemes would read something that is not the service's.
    """
    allowed = {"https", "http"} if api_base_url.lower().startswith("http://") else {"https"}
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise RefusedURLError(f"{what}: refusing the URL the service gave: it is not a valid URL") from None
    scheme = parsed.scheme.lower()
    if scheme not in allowed or not parsed.host:
        # Scheme and host only: the query holds the URL's signature.
        shown = f"{scheme}://{parsed.host}{parsed.path}" if scheme else f"the relative URL {parsed.path[:60]!r}"
        raise RefusedURLError(
            f"{what}: refusing to follow {shown}: signed URLs must be {' or '.join(sorted(allowed, reverse=True))} "
            f"with a host"
        )


def _raise_for_status(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    raise error_from_response(response.status_code, _decode(response), dict(response.headers), what=what)


def _checked(send: Any, what: str) -> httpx.Response:
    """One attempt: transport failures become ``ProviderUnavailableError``, non-2xx typed errors."""
    try:
        response = send()
    except httpx.TransportError as exc:  # the server may never have seen the request
        raise ProviderUnavailableError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
    _raise_for_status(response, what)
    return response


def _form_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """JSON fields as multipart form fields: booleans as true/false, lists repeated."""
    form: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            form[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            form[key] = [str(v) for v in value]
        else:
            form[key] = str(value)
    return form

_ANNOUNCED_ENGINES: set[str] = set()


class PyAIHook(BaseHook):  # type: ignore[misc,valid-type]
    """Talks to a PyAI Hear jobs service (the hosted API or callmine's embedded engine)."""

    conn_name_attr = "pyai_conn_id"
    default_conn_name = "pyai_default"
    conn_type = "http"
    hook_name = "PyAI Hear"

    def __init__(
        self,
        pyai_conn_id: str = default_conn_name,
        *,
        endpoint: PyAIEndpoint | None = None,
        timeout_s: float = 30.0,
        max_attempts: int = 6,
        backoff: Backoff = Backoff(base_s=0.5, cap_s=20.0),
    ) -> None:
        super().__init__()
        self.pyai_conn_id = pyai_conn_id
        self._endpoint = endpoint
        self.timeout = httpx.Timeout(timeout_s, connect=10.0)
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._client: httpx.Client | None = None

    # -- connection -----------------------------------------------------------------
    def get_endpoint(self) -> PyAIEndpoint:
        if self._endpoint is None:
            try:
                conn = self.get_connection(self.pyai_conn_id)
            except AirflowNotFoundException:
                self._endpoint = self._local_engine()
            else:
                self._endpoint = PyAIEndpoint.from_connection(conn)
        return self._endpoint

    async def aget_endpoint(self) -> PyAIEndpoint:
        if self._endpoint is None:
            try:
                conn = await self.aget_connection(self.pyai_conn_id)
            except AirflowNotFoundException:
                self._endpoint = self._local_engine()
            else:
                self._endpoint = PyAIEndpoint.from_connection(conn)
        return self._endpoint

    def _local_engine(self) -> PyAIEndpoint:
        """Without a ``pyai_default`` connection, talk to callmine's embedded engine (no key)."""
        if self.pyai_conn_id != self.default_conn_name:
            raise AirflowNotFoundException(f"The conn_id `{self.pyai_conn_id}` isn't defined")
        url = env_default("CALLMINE_ENGINE_URL", DEFAULT_ENGINE_URL)
        if url not in _ANNOUNCED_ENGINES:  # once per process, not once per hook
            _ANNOUNCED_ENGINES.add(url)
            self.log.info("no connection %r: using the embedded engine at %s", self.pyai_conn_id, url)
        return PyAIEndpoint(base_url=url.rstrip("/"))

    def _sync_client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- requests with the one retry policy (callmine.retry.retrying) ------------------------
    def _send(self, method: str, url: str, *, what: str, idempotent: bool, **kwargs: Any) -> httpx.Response:
        client = self._sync_client()
        # A request the server may have acted on is retried only when it is idempotent.
        attempts = self.max_attempts if idempotent else 1
        for attempt in retrying(self.backoff, attempts, what=what, log=self.log):
            with attempt:
                return _checked(lambda: client.request(method, url, **kwargs), what)
        raise AssertionError("unreachable")

    async def _asend(
        self, client: httpx.AsyncClient, method: str, url: str, *, what: str, **kwargs: Any
    ) -> httpx.Response:
        async for attempt in retrying(self.backoff, self.max_attempts, what=what, log=self.log, asynchronous=True):
            with attempt:
                try:
                    response = await client.request(method, url, **kwargs)
                except httpx.TransportError as exc:  # the server may never have seen the request
                    raise ProviderUnavailableError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
                _raise_for_status(response, what)
                return response
        raise AssertionError("unreachable")

    # -- jobs API (sync) ----------------------------------------------------------------
    def submit_job(
        self,
        fields: Mapping[str, Any],
        *,
        idempotency_key: str,
        upload: Upload | None = None,
    ) -> dict[str, Any]:
        """POST a job: JSON with ``audio_url``, or multipart with the ``audio`` part.

        With an Idempotency-Key a retried POST is safe (same key + same body -> same job),
        so transient failures are retried here too.
        """
        ep = self.get_endpoint()
        headers = {**ep.auth_headers(), IDEMPOTENCY_KEY: idempotency_key}
        if upload is None:
            kwargs: dict[str, Any] = {"json": {k: v for k, v in fields.items() if v is not None}}
        else:
            kwargs = {
                "data": _form_fields(fields),
                "files": {"audio": (upload.filename, upload.content, upload.content_type)},
            }
        response = self._send(
            "POST", ep.base_url + JOBS_PATH, what="submit job", idempotent=True, headers=headers, **kwargs
        )
        return json_document(response, "submit job")

    def get_job(self, job_id: str) -> dict[str, Any]:
        ep = self.get_endpoint()
        response = self._send(
            "GET", f"{ep.base_url}{JOBS_PATH}/{job_id}", what=f"get job {job_id}", idempotent=True,
            headers=ep.auth_headers(),
        )
        return json_document(response, f"get job {job_id}")

    def list_jobs(self, *, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
        ep = self.get_endpoint()
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = self._send(
            "GET", ep.base_url + JOBS_PATH, what="list jobs", idempotent=True, headers=ep.auth_headers(),
            params=params,
        )
        return json_document(response, "list jobs")

    def iter_jobs(self, *, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every job, newest first, following ``next_cursor`` until ``has_more`` is false."""
        cursor: str | None = None
        while True:
            page = self.list_jobs(limit=page_size, cursor=cursor)
            yield from page.get("data") or []
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return

    # -- jobs API (async: the triggerer and concurrent result fetching) ---------------------
    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.timeout, follow_redirects=False,
                                 limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))

    async def aget_job_bytes(self, client: httpx.AsyncClient, job_id: str) -> bytes:
        """The job document as raw JSON bytes (decoded by the caller into typed structs)."""
        ep = await self.aget_endpoint()
        response = await self._asend(
            client, "GET", f"{ep.base_url}{JOBS_PATH}/{job_id}", what=f"get job {job_id}", headers=ep.auth_headers()
        )
        return response.content

    async def aget_job_once(self, client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
        """One GET, no retry loop: the trigger's poll rounds are the retry."""
        ep = await self.aget_endpoint()
        response = await client.get(f"{ep.base_url}{JOBS_PATH}/{job_id}", headers=ep.auth_headers())
        _raise_for_status(response, f"get job {job_id}")
        return json_document(response, f"get job {job_id}")

    async def afetch_signed(self, client: httpx.AsyncClient, url: str, *, what: str) -> bytes:
        """GET a signed URL (offloaded result, subtitles). No API key: it may live on another
        host, and a signed store rejects requests that carry one. Only http(s): see ``check_signed_url``."""
        check_signed_url(url, (await self.aget_endpoint()).base_url, what=what)
        response = await self._asend(client, "GET", url, what=what)
        return response.content
