"""Any OpenAI-compatible chat-completions endpoint (OpenAI, Azure-style gateways, vLLM, Ollama...).

Connection ``llm_default`` (conn_type http): host = the base URL as the openai client
takes it, password = API key, extra ``{"model": "..."}``, e.g.
``AIRFLOW_CONN_LLM_DEFAULT='{"conn_type": "http", "host": "https://api.openai.com/v1",
"password": "sk-...", "extra": {"model": "gpt-4o-mini"}}'``.
``CALLMINE_LLM_MODEL`` overrides the model. Optional extra keys: ``max_retries``, ``timeout_s``.

The key lives only in the connection (or ``OPENAI_API_KEY``): never in reprs, logs or
exception messages.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import openai

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

DEFAULT_CONN_ID = "llm_default"
MODEL_ENV = "CALLMINE_LLM_MODEL"
# The openai client retries 408/409/429/5xx and connection errors itself, with
# exponential backoff that honours Retry-After / retry-after-ms: we only size the budget.
DEFAULT_MAX_RETRIES = 4
DEFAULT_TIMEOUT_S = 120.0  # per request; a long call's answer can take a while to generate
_MASKED_KEY = re.compile(r"\S*\*{3,}\S*|\bsk-[A-Za-z0-9_\-]{6,}")
NO_KEY = "not-needed"  # local servers (vLLM, Ollama) want no key, but the client insists on one
_EXAMPLE = (
    'AIRFLOW_CONN_LLM_DEFAULT=\'{"conn_type": "http", "host": "https://api.openai.com/v1", '
    '"password": "<api key>", "extra": {"model": "gpt-4o-mini"}}\''
)


class LLMConfigurationError(RuntimeError):
    """The LLM endpoint cannot work as configured (no connection, bad key, unknown model...).

    Not a per-call problem: the task should fail at once. Messages never contain the key.
    """


@dataclass(frozen=True, slots=True)
class LLMSettings:
    base_url: str
    model: str
    api_key: str = field(default=NO_KEY, repr=False)  # never in reprs, logs or exceptions
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout_s: float = DEFAULT_TIMEOUT_S
    conn_id: str = DEFAULT_CONN_ID

    @classmethod
    def from_connection(cls, conn: Any, conn_id: str = DEFAULT_CONN_ID, *, max_retries: int | None = None,
                        timeout_s: float | None = None) -> LLMSettings:
        extra = conn.extra_dejson or {}
        model = os.environ.get(MODEL_ENV) or str(extra.get("model") or "").strip()
        if not model:
            raise LLMConfigurationError(
                f"no model for connection {conn_id!r}: set its extra {{\"model\": \"...\"}} or {MODEL_ENV}"
            )
        return cls(
            base_url=_base_url(conn, conn_id),
            model=model,
            api_key=conn.password or os.environ.get("OPENAI_API_KEY") or NO_KEY,
            max_retries=int(max_retries if max_retries is not None else extra.get("max_retries", DEFAULT_MAX_RETRIES)),
            timeout_s=float(timeout_s if timeout_s is not None else extra.get("timeout_s", DEFAULT_TIMEOUT_S)),
            conn_id=conn_id,
        )

    def redact(self, text: str, limit: int = 300) -> str:
        """A server message fit for a log line or an exception: one line, no key, no masked key."""
        if self.api_key and self.api_key != NO_KEY:
            text = text.replace(self.api_key, "<redacted>")
        text = _MASKED_KEY.sub("<redacted>", text)  # OpenAI echoes bad keys as sk-ab****wxyz
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def async_client(self) -> openai.AsyncOpenAI:
        """One client per batch: it pools connections, so share it across concurrent calls."""
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key,
                                  max_retries=self.max_retries, timeout=self.timeout_s)

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key,
                             max_retries=self.max_retries, timeout=self.timeout_s)


def _base_url(conn: Any, conn_id: str) -> str:
    host = (conn.host or "").strip()
    if not host:
        raise LLMConfigurationError(f"connection {conn_id!r} has no host: set it to the API base URL, e.g. {_EXAMPLE}")
    if "://" not in host:  # URI-form connections split the URL into host/port/schema(path)
        scheme = "http" if host in ("localhost", "127.0.0.1") else "https"
        host = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "") + (f"/{conn.schema}" if conn.schema else "")
    elif conn.port and host.count(":") < 2:
        host = f"{host}:{conn.port}"
    return host.rstrip("/")


def _missing(conn_id: str) -> LLMConfigurationError:
    return LLMConfigurationError(
        f"no Airflow connection {conn_id!r} for the llm analyzer: create it (airflow connections add "
        f"{conn_id} --conn-type http --conn-host <base url> --conn-password <key> "
        f"--conn-extra '{{\"model\": \"...\"}}') or set {_EXAMPLE}"
    )


class LLMHook(BaseHook):  # type: ignore[misc,valid-type]
    """Resolves ``llm_default`` into :class:`LLMSettings` and builds openai clients from it."""

    conn_name_attr = "llm_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "http"
    hook_name = "LLM (OpenAI-compatible)"

    def __init__(self, conn_id: str = DEFAULT_CONN_ID, *, max_retries: int | None = None,
                 timeout_s: float | None = None, settings: LLMSettings | None = None) -> None:
        super().__init__()
        self.llm_conn_id = conn_id
        self._max_retries = max_retries
        self._timeout_s = timeout_s
        self._settings = settings

    def get_settings(self) -> LLMSettings:
        if self._settings is None:
            try:
                conn = self.get_connection(self.llm_conn_id)
            except AirflowNotFoundException:
                raise _missing(self.llm_conn_id) from None
            self._settings = LLMSettings.from_connection(
                conn, self.llm_conn_id, max_retries=self._max_retries, timeout_s=self._timeout_s)
        return self._settings

    async def aget_settings(self) -> LLMSettings:
        """The non-blocking lookup for triggers: afterwards the sync accessors use the cache."""
        if self._settings is None:
            try:
                conn = await self.aget_connection(self.llm_conn_id)
            except AirflowNotFoundException:
                raise _missing(self.llm_conn_id) from None
            self._settings = LLMSettings.from_connection(
                conn, self.llm_conn_id, max_retries=self._max_retries, timeout_s=self._timeout_s)
        return self._settings

    @property
    def model(self) -> str:
        return self.get_settings().model

    @property
    def base_url(self) -> str:
        return self.get_settings().base_url

    def async_client(self) -> openai.AsyncOpenAI:
        return self.get_settings().async_client()

    def client(self) -> openai.OpenAI:
        return self.get_settings().client()

    def __repr__(self) -> str:
        return f"LLMHook(conn_id={self.llm_conn_id!r})"
