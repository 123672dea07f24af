"""Run the fake AssemblyAI service in a background thread (uvicorn on 127.0.0.1, a free port)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from types import TracebackType
from typing import Any, Self

import uvicorn

from .app import create_app
from .config import FakeAssemblyAIConfig
from .service import FakeAssemblyAIService


def _new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: on the stdlib loop each answer waits ~40 ms (Nagle / delayed ACK)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _http_impl() -> str:
    """httptools when installed (faster parsing); h11 works too."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


class FakeAssemblyAI:
    """The fake service as a context manager.

    >>> with FakeAssemblyAI(FakeAssemblyAIConfig(latency_s=0.05)) as fake:
    ...     httpx.get(fake.base_url + "/v2/transcript", headers={"authorization": fake.api_key})
    """

    def __init__(self, config: FakeAssemblyAIConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config if config is not None else FakeAssemblyAIConfig()
        self._initial = dataclasses.replace(self.config)
        self.service = FakeAssemblyAIService(self.config)
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.base_url = ""

    @property
    def api_key(self) -> str:
        return sorted(self.config.api_keys)[0]

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"authorization": self.api_key}

    # -- per-test knobs and assertions ----------------------------------------------------------
    def configure(self, **overrides: Any) -> None:
        """Change config fields on the running server, e.g. ``configure(fail_next_5xx=2)``."""
        unknown = set(overrides) - {f.name for f in dataclasses.fields(FakeAssemblyAIConfig)}
        if unknown:
            raise TypeError(f"unknown FakeAssemblyAIConfig fields: {sorted(unknown)}")
        with self.service.lock:  # mutate in place: the service holds this very object
            for name, value in overrides.items():
                setattr(self.config, name, value)

    def reset(self) -> None:
        """Forget transcripts, uploads and counters, and undo ``configure``."""
        self.configure(**{f.name: getattr(self._initial, f.name) for f in dataclasses.fields(self._initial)})
        self.service.reset()

    def stats(self) -> dict[str, Any]:
        """``uploads``, ``transcripts_created``, ``requests`` (by route), ``created_bodies``, ``created_ids``."""
        return self.service.stats()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        sock.setblocking(False)
        self.base_url = f"http://{self._host}:{sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(
            create_app(self.service), http=_http_impl(), lifespan="off", access_log=False, log_config=None, log_level="warning",
            timeout_keep_alive=30,
        ))
        self._thread = threading.Thread(target=self._run, args=(sock,), name="fake-assemblyai", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            self.stop()
            raise RuntimeError("fake AssemblyAI server did not start") from self._error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True  # uvicorn polls this flag; safe from another thread
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self, sock: socket.socket) -> None:
        loop = _new_event_loop()
        asyncio.set_event_loop(loop)
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
        serving = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        while not self._server.started and not serving.done():
            await asyncio.sleep(0.005)
        self._ready.set()
        await serving
