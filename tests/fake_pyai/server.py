"""Run the fake in a background thread: two uvicorn listeners sharing one event loop.

The API and result listeners live on different ports *and* different host names
(127.0.0.1 vs localhost) so a client that leaks its API key to the result host,
or assumes same-origin, gets caught.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from types import TracebackType
from typing import Any, Self

import uvicorn

from .api_app import create_api_app
from .config import FakeConfig
from .faults import droppable_protocol
from .result_app import create_result_app
from .service import FakeService

_WILDCARDS = {"0.0.0.0", "::", ""}


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _http_impl() -> str:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


class FakePyAIServer:
    """The fake PyAI Hear service, started in a daemon thread.

    >>> with FakePyAIServer(FakeConfig(latency_s=0.1)) as fake:
    ...     httpx.get(fake.base_url + "/v1/me", headers={"x-api-key": fake.api_key})
    """

    def __init__(
        self,
        config: FakeConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        result_host: str | None = None,
        result_port: int = 0,
        public_host: str | None = None,
        result_public_host: str | None = None,
    ) -> None:
        self.config = config if config is not None else FakeConfig()
        self._initial_config = dataclasses.replace(self.config, keys=dict(self.config.keys))
        self.service = FakeService(self.config)
        self._host = host
        self._port = port
        self._result_host = result_host if result_host is not None else host
        self._result_port = result_port
        # Host names put in URLs: the API and the result host must differ by name.
        self._public_host = public_host or ("127.0.0.1" if host in _WILDCARDS else host)
        self._result_public_host = result_public_host or (
            "localhost" if self._public_host != "localhost" else "127.0.0.1"
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[uvicorn.Server] = []
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.base_url = ""
        self.result_base_url = ""

    @property
    def api_key(self) -> str | None:
        """The first accepted key (None in open mode)."""
        return next(iter(self.config.keys), None)

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    # --- lifecycle -------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> Self:
        api_sock = _bind(self._host, self._port)
        result_sock = _bind(self._result_host, self._result_port)
        api_port = api_sock.getsockname()[1]
        result_port = result_sock.getsockname()[1]
        self.base_url = f"http://{_url_host(self._public_host)}:{api_port}"
        self.result_base_url = f"http://{_url_host(self._result_public_host)}:{result_port}"
        self.service.result_base_url = self.result_base_url
        self._thread = threading.Thread(
            target=self._run, args=(api_sock, result_sock), name="fake-pyai", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout_s):
            self.stop()
            raise RuntimeError("fake PyAI server did not start in time")
        if self._error is not None:
            self.stop()
            raise RuntimeError("fake PyAI server failed to start") from self._error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        for server in self._servers:
            server.should_exit = True  # uvicorn polls this flag; safe from another thread
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- introspection (thread-safe: runs on the server loop) -------------------------

    def stats(self) -> dict[str, Any]:
        return self._call(self.service.stats())

    def job_counts(self) -> dict[str, Any]:
        """Jobs created per Idempotency-Key and per audio, and the injected faults by route."""

        async def _counts() -> dict[str, Any]:
            return self.service.job_counts()

        return self._call(_counts())

    def reset(self, *, restore_config: bool = True) -> None:
        """Forget all jobs, counters and rate-limit buckets; by default also undo configure().

        Cheaper than a new server per test: a session-wide fake plus reset() per test.
        """

        async def _reset() -> None:
            if restore_config:
                initial = self._initial_config
                self._apply({f.name: getattr(initial, f.name) for f in dataclasses.fields(initial)})
                self.config.keys = dict(initial.keys)
            self.service.reset()

        self._call(_reset())

    def configure(self, **overrides: Any) -> None:
        """Change FakeConfig fields on the running server, e.g. ``configure(offload_over_bytes=0)``."""
        unknown = set(overrides) - {f.name for f in dataclasses.fields(FakeConfig)}
        if unknown:
            raise TypeError(f"unknown FakeConfig fields: {sorted(unknown)}")

        async def _configure() -> None:
            self._apply(overrides)

        self._call(_configure())

    def _apply(self, values: dict[str, Any]) -> None:
        # Mutate in place: the apps and the service hold this very object.
        for name, value in values.items():
            setattr(self.config, name, value)
        if "fault_seed" in values:
            self.service.faults.reseed(self.config.fault_seed)

    def _call(self, coro: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("server is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    # --- the server thread -----------------------------------------------------------

    def _run(self, api_sock: socket.socket, result_sock: socket.socket) -> None:
        loop = _new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(api_sock, result_sock))
        except BaseException as exc:  # surfaced to start(); the thread must not die silently
            self._error = exc
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            api_sock.close()
            result_sock.close()

    async def _serve(self, api_sock: socket.socket, result_sock: socket.socket) -> None:
        common: dict[str, Any] = {
            # The API listener can drop a connection without answering (FakeConfig.fault_rate_drop).
            "http": droppable_protocol(_http_impl()),
            "lifespan": "off",
            "access_log": False,
            "log_config": None,  # leave the host process's logging alone
            "log_level": "warning",
            "timeout_keep_alive": 30,  # fewer keep-alive races for pooled clients
            "backlog": 4096,
        }
        self._servers = [
            uvicorn.Server(uvicorn.Config(create_api_app(self.service), **common)),
            uvicorn.Server(uvicorn.Config(create_result_app(self.service), **common)),
        ]
        serving = [
            asyncio.ensure_future(server.serve(sockets=[sock]))
            for server, sock in zip(self._servers, (api_sock, result_sock), strict=True)
        ]
        while not all(server.started for server in self._servers):
            if any(task.done() for task in serving):
                break
            await asyncio.sleep(0.005)
        self._ready.set()
        try:
            await asyncio.gather(*serving)
        finally:
            await self.service.aclose()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
