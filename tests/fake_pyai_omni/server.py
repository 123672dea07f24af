"""Run the fake Omni API in a background thread: two real uvicorn listeners, one event loop.

The API host (127.0.0.1) and the signed store (localhost) differ by port *and* host name,
so a client that sends its key to the store, or assumes one origin, gets caught.
``python -m tests.fake_pyai_omni.server`` serves a few demo calls until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import uvicorn

from .app import FakeCall, FakeOmniState, SeenRequest, create_api_app, create_store_app


def _bind(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))  # port 0: the OS picks a free port
    sock.setblocking(False)
    return sock


class FakeOmniServer:
    """The fake PyAI Omni calls API; configure calls per test, then point a client at base_url.

    >>> with FakeOmniServer() as fake:
    ...     fake.add_call("call_1", datetime(2026, 5, 1, 9, tzinfo=UTC), {"turns": [...]})
    ...     httpx.get(fake.base_url + "/v1/omni/calls", headers=fake.auth_headers)
    """

    def __init__(self, state: FakeOmniState | None = None, *, host: str = "127.0.0.1", store_host: str = "localhost") -> None:
        self.state = state or FakeOmniState()
        self._host, self._store_host = host, store_host
        self._servers: list[uvicorn.Server] = []
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.base_url = ""
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

    # -- lifecycle ------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> Self:
        api_sock, store_sock = _bind(self._host), _bind("127.0.0.1" if self._store_host == "localhost" else self._store_host)
        self.base_url = f"http://{self._host}:{api_sock.getsockname()[1]}"
        self.store_base_url = f"http://{self._store_host}:{store_sock.getsockname()[1]}"
        self.state.store_base_url = self.store_base_url
        self._thread = threading.Thread(target=self._run, args=(api_sock, store_sock), name="fake-pyai-omni", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            self.stop()
            raise RuntimeError("fake PyAI Omni server did not start") from self._error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        for server in self._servers:
            server.should_exit = True  # uvicorn polls this flag; safe from another thread
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _run(self, api_sock: socket.socket, store_sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(api_sock, store_sock))
        except BaseException as exc:  # surfaced to start(): the thread must not die silently
            self._error = exc
        finally:
            self._ready.set()
            loop.close()
            api_sock.close()
            store_sock.close()

    async def _serve(self, api_sock: socket.socket, store_sock: socket.socket) -> None:
        common: dict[str, Any] = {"lifespan": "off", "access_log": False, "log_config": None, "log_level": "warning"}
        self._servers = [
            uvicorn.Server(uvicorn.Config(create_api_app(self.state), **common)),
            uvicorn.Server(uvicorn.Config(create_store_app(self.state), **common)),
        ]
        tasks = [asyncio.ensure_future(s.serve(sockets=[sock])) for s, sock in zip(self._servers, (api_sock, store_sock))]
        while not all(s.started for s in self._servers) and not any(t.done() for t in tasks):
            await asyncio.sleep(0.005)
        self._ready.set()
        await asyncio.gather(*tasks)


if __name__ == "__main__":
    with FakeOmniServer() as fake:
        now = datetime.now(UTC)
        fake.add_call("call_demo_timed", now, {"turns": [
            {"role": "assistant", "text": "Thanks for calling, how can I help?", "start_ms": 0, "end_ms": 2100},
            {"role": "user", "text": "My order never arrived.", "start_ms": 2400, "end_ms": 4000},
        ]})
        fake.add_call("call_demo_legacy", now, "Assistant: Hello.\nUser: Hi, a question about my bill.")
        print(f"API {fake.base_url}  store {fake.store_base_url}\nAIRFLOW_CONN_PYAI_DEFAULT='{fake.connection_json()}'", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
