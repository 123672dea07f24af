"""Run the fake CallMissed service on 127.0.0.1 (free port) in a daemon thread.

>>> with FakeCallMissed(latency_s=0.1) as fake:
...     httpx.post(fake.base_url + "/api/v1/analytics/calls/analyze", headers=fake.auth_headers, ...)

``BackgroundServer`` (any Starlette app under uvicorn in a thread) is shared with the
fake OpenAI audio server.
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
from starlette.applications import Starlette

from .app import CallMissedService, create_app
from .config import CallMissedConfig, RecordedRequest


class BackgroundServer:
    """A Starlette app served by uvicorn on its own event loop in a daemon thread."""

    def __init__(self, app: Starlette, *, host: str = "127.0.0.1", port: int = 0, name: str = "fake") -> None:
        self._app, self._host, self._port, self._name = app, host, port, name
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.url = ""

    def start(self, timeout_s: float = 10.0) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        sock.setblocking(False)
        self.url = f"http://{self._host}:{sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._run, args=(sock,), name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            self.stop()
            raise RuntimeError(f"{self._name} server did not start") from self._error

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True  # uvicorn polls it; safe from another thread
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        config = uvicorn.Config(self._app, lifespan="off", access_log=False, log_config=None,
                                log_level="warning", timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        try:
            loop.run_until_complete(self._serve(sock))
        except BaseException as exc:  # surfaced to start(); the thread must not die silently
            self._error = exc
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            sock.close()

    async def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        while not self._server.started and not task.done():
            await asyncio.sleep(0.005)
        self._ready.set()
        await task


class FakeCallMissed:
    """The fake CallMissed analytics API; ``base_url`` is the host (paths start with /api/v1)."""

    def __init__(self, config: CallMissedConfig | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 **overrides: Any) -> None:
        self.config = dataclasses.replace(config or CallMissedConfig(), **overrides)
        self._initial = dataclasses.replace(self.config, api_keys=set(self.config.api_keys))
        self.service = CallMissedService(self.config)
        self._server = BackgroundServer(create_app(self.service), host=host, port=port, name="fake-callmissed")
        self.base_url = ""

    @property
    def api_key(self) -> str:
        """The first accepted key ("" for an open server)."""
        return next(iter(sorted(self.config.api_keys)), "")

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far (a copy), in arrival order."""
        return list(self.service.requests)

    @property
    def max_in_flight(self) -> int:
        return self.service.max_in_flight

    def configure(self, **overrides: Any) -> None:
        """Change config fields on the running server, e.g. ``configure(server_error_times=2)``."""
        unknown = set(overrides) - {f.name for f in dataclasses.fields(CallMissedConfig)}
        if unknown:
            raise TypeError(f"unknown CallMissedConfig fields: {sorted(unknown)}")
        for name, value in overrides.items():
            setattr(self.config, name, value)  # the service holds this very object

    def reset(self) -> None:
        """Forget requests and undo configure(): one server per module, reset() per test."""
        initial = self._initial
        self.configure(**{f.name: getattr(initial, f.name) for f in dataclasses.fields(initial)})
        self.config.api_keys = set(initial.api_keys)
        self.service.reset()

    def start(self) -> Self:
        self._server.start()
        self.base_url = self._server.url
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
