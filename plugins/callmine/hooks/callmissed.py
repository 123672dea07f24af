"""CallMissed call analytics: one synchronous request per recording, the answer is the analysis.

Connection ``callmissed_default`` (conn_type http): host = base URL, password = access
token (bearer), e.g. ``AIRFLOW_CONN_CALLMISSED_DEFAULT='{"conn_type": "http", "host":
"https://api.callmissed.com", "password": "<access token>"}'``. Optional extra ``timeout_s``.

``POST /api/v1/analytics/calls/analyze`` (multipart ``file`` + ``language``) answers with
``transcript``, ``speaker_timing``, ``analysis``, ``summary``, ``generated_at``;
``POST /api/v1/analytics/calls/question`` (JSON ``transcript`` + ``question``) with ``answer``.
Transcription and an LLM analysis happen inside the request: minutes for a long call, so
the timeout is long and there is no retry loop here (the trigger decides when to retry).
The token is never in reprs, logs or exception messages.
"""

from __future__ import annotations

from typing import Any

import httpx

from callmine.errors import ProviderError
from callmine.hooks.openai_audio import BearerEndpoint, apost_json, content_type, missing_connection

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

DEFAULT_CONN_ID = "callmissed_default"
ANALYZE_PATH = "/api/v1/analytics/calls/analyze"
QUESTION_PATH = "/api/v1/analytics/calls/question"
DEFAULT_TIMEOUT_S = 900.0  # upload of up to 100 MB + transcription + LLM analysis
_EXAMPLE = ("AIRFLOW_CONN_CALLMISSED_DEFAULT='{\"conn_type\": \"http\", \"host\": \"https://api.callmissed.com\", "
            "\"password\": \"<access token>\"}'")


class CallMissedHook(BaseHook):  # type: ignore[misc,valid-type]
    """Resolves ``callmissed_default`` and talks to the CallMissed analytics API."""

    conn_name_attr = "callmissed_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "http"
    hook_name = "CallMissed"

    def __init__(self, conn_id: str = DEFAULT_CONN_ID, *, endpoint: BearerEndpoint | None = None) -> None:
        super().__init__()
        self.callmissed_conn_id = conn_id
        self._endpoint = endpoint

    def _from_connection(self, conn: Any) -> BearerEndpoint:
        endpoint = BearerEndpoint.from_connection(conn, self.callmissed_conn_id, service="CallMissed API",
                                                  default_timeout_s=DEFAULT_TIMEOUT_S)
        if not endpoint.api_key:  # every CallMissed call needs the token: say so before uploading
            raise ProviderError(f"connection {self.callmissed_conn_id!r} has no password: set it to your "
                                "CallMissed access token")
        return endpoint

    def get_endpoint(self) -> BearerEndpoint:
        if self._endpoint is None:
            try:
                conn = self.get_connection(self.callmissed_conn_id)
            except AirflowNotFoundException:
                raise missing_connection(self.callmissed_conn_id, "CallMissed", _EXAMPLE) from None
            self._endpoint = self._from_connection(conn)
        return self._endpoint

    async def aget_endpoint(self) -> BearerEndpoint:
        """The non-blocking lookup for triggers; cached for the hook's life."""
        if self._endpoint is None:
            try:
                conn = await self.aget_connection(self.callmissed_conn_id)
            except AirflowNotFoundException:
                raise missing_connection(self.callmissed_conn_id, "CallMissed", _EXAMPLE) from None
            self._endpoint = self._from_connection(conn)
        return self._endpoint

    def async_client(self) -> httpx.AsyncClient:
        # Timeouts are set per request from the connection; no redirects (they would drop the token).
        return httpx.AsyncClient(follow_redirects=False, limits=httpx.Limits(max_connections=32))

    async def aanalyze(self, client: httpx.AsyncClient, filename: str, content: bytes,
                       language: str | None = None) -> dict[str, Any]:
        """Upload one recording; the analysis answer as JSON (``ProviderError`` when refused or failed)."""
        endpoint = await self.aget_endpoint()
        data = {"language": language} if language else {}  # absent = the service auto-detects
        self.log.info("analyzing %s (%d bytes) at %s", filename, len(content), endpoint.base_url)
        return await apost_json(client, endpoint, ANALYZE_PATH, what=f"CallMissed analysis of {filename}",
                                data=data, files={"file": (filename, content, content_type(filename))})

    async def aquestion(self, client: httpx.AsyncClient, transcript: str, question: str) -> str:
        """A follow-up question about an analyzed call's transcript; the service's answer text."""
        endpoint = await self.aget_endpoint()
        answer = await apost_json(client, endpoint, QUESTION_PATH, what="CallMissed question",
                                  json={"transcript": transcript, "question": question})
        if not isinstance(answer.get("answer"), str):
            raise ProviderError("CallMissed question: the answer has no 'answer' text")
        return answer["answer"]
