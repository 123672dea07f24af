"""Run the fake Omni API in background threads: two real uvicorn listeners.

The API host (127.0.0.1) and the signed store (localhost) differ by port *and* host name,
so a client that sends its key to the store, or assumes one origin, gets caught.
Each listener is a ``BackgroundServer`` (tests/background_server.py, shared by the fakes).
``python -m tests.fake_pyai_omni.server`` serves a few demo calls until Ctrl-C.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Self

from tests.background_server import BackgroundServer, FakeServer, wait_for_shutdown

from .app import FakeCall, FakeOmniState, SeenRequest, create_api_app, create_store_app


class FakeOmniServer(FakeServer):
    """The fake PyAI Omni calls API; configure calls per test, then point a client at base_url.

    >>> with FakeOmniServer() as fake:
    ...     fake.add_call("call_1", datetime(2026, 5, 1, 9, tzinfo=UTC), {"turns": [...]})
    ...     httpx.get(fake.base_url + "/v1/omni/calls", headers=fake.auth_headers)
    """

    def __init__(self, state: FakeOmniState | None = None, *, host: str = "127.0.0.1", store_host: str = "localhost") -> None:
        self.state = state or FakeOmniState()
        self._store_host = store_host
        self._store = BackgroundServer(create_store_app(self.state), name="fake-pyai-omni-store",
                                       host="127.0.0.1" if store_host == "localhost" else store_host)
        super().__init__(BackgroundServer(create_api_app(self.state), host=host, name="fake-pyai-omni"))
        self.store_base_url = ""

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def connection_json(self) -> str:
        """The value for ``AIRFLOW_CONN_PYAI_DEFAULT``: this fake as the PyAI API host."""
        import json

        return json.dumps({"conn_type": "http", "host": self.base_url, "password": self.api_key})

    # -- per-test configuration (thread-safe: the handlers take the same lock) ----------
    def add_call(self, call_id: str, created_at: datetime, transcript: dict[str, Any] | str | None = None,
                 **options: Any) -> FakeCall:
        call = FakeCall(call_id, created_at, transcript, **options)
        with self.state.lock:
            self.state.calls[call_id] = call
        return call

    def push(self, call_id: str) -> None:
        """The engine pushes the transcript: from now on it is served."""
        with self.state.lock:
            call = self.state.calls[call_id]
            call.held, call.not_pushed_for = False, 0

    def fail_next(self, n: int, status: int = 503, retry_after: str | None = None) -> None:
        with self.state.lock:
            self.state.fail_next, self.state.fail_status, self.state.fail_retry_after = n, status, retry_after

    def configure(self, **values: Any) -> None:
        """Change FakeOmniState fields, e.g. ``configure(scopes=(), offload_envelope=True)``."""
        with self.state.lock:
            for name, value in values.items():
                if not hasattr(self.state, name):
                    raise TypeError(f"unknown FakeOmniState field {name!r}")
                setattr(self.state, name, value)

    def requests(self, host: str | None = None) -> list[SeenRequest]:
        with self.state.lock:
            return [r for r in self.state.requests if host is None or r.host == host]

    # -- lifecycle: the store first, so the API can link to it from its first answer ---------
    def start(self, timeout_s: float = 10.0) -> Self:
        self._store.start(timeout_s)
        self.store_base_url = f"http://{self._store_host}:{self._store.port}"
        self.state.store_base_url = self.store_base_url
        try:
            return super().start(timeout_s)
        except BaseException:
            self._store.stop()
            raise

    def stop(self, timeout_s: float = 10.0) -> None:
        super().stop(timeout_s)
        self._store.stop(timeout_s)


if __name__ == "__main__":
    with FakeOmniServer() as fake:
        now = datetime.now(UTC)
        fake.add_call("call_demo_timed", now, {"turns": [
            {"role": "assistant", "text": "Thanks for calling, how can I help?", "start_ms": 0, "end_ms": 2100},
            {"role": "user", "text": "My order never arrived.", "start_ms": 2400, "end_ms": 4000},
        ]})
        fake.add_call("call_demo_legacy", now, "Assistant: Hello.\nUser: Hi, a question about my bill.")
        print(f"API {fake.base_url}  store {fake.store_base_url}\nAIRFLOW_CONN_PYAI_DEFAULT='{fake.connection_json()}'", flush=True)
        wait_for_shutdown()
