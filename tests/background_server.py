"""Plumbing shared by the HTTP fakes (tests/fake_*): serve an app in a thread, and the fake's test surface.

- ``BackgroundServer``: any ASGI app (a Starlette app) under uvicorn, on its own event loop
  in a daemon thread, on a free port of 127.0.0.1 unless told otherwise.
- ``FakeServer``: a fake as a context manager (start/stop, ``base_url``).
- ``ConfigurableFake``: plus ``configure(**fields)`` / ``reset()`` on the config dataclass the
  running app holds, ``api_key`` and ``auth_headers``.
- ``RecordingFake`` and ``RequestLog``: plus ``requests`` and ``max_in_flight``, kept by the
  fake's service.
- ``wait_for_shutdown()``: for ``python -m tests.fake_...``, block until Ctrl-C or SIGTERM.

Like the fakes, this module imports nothing from the code they check (callmine, include).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import uvicorn

RecordT = TypeVar("RecordT")


def uvloop_if_installed() -> asyncio.AbstractEventLoop:
    """An event loop factory: uvloop when installed, else the stdlib loop.

    On the stdlib loop a small answer can wait ~40 ms (Nagle / delayed ACK), which adds up for
    a client that polls.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class BackgroundServer:
    """An ASGI app served by uvicorn on its own event loop in a daemon thread.

    ``url`` (``http://host:port``) and ``port`` are set by ``start()``; port 0 binds a free port
    (a new one on each start).
    uvicorn picks httptools when installed (else h11).
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "fake",
                 backlog: int = 2048, loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
                 ) -> None:
        self._app, self._host, self._bind_port, self._name = app, host, port, name
        self._backlog, self._loop_factory = backlog, loop_factory
        self.port = 0
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._bind_port))
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self.url = f"http://{self._host}:{self.port}"
        self._ready, self._error = threading.Event(), None
        self._server = uvicorn.Server(uvicorn.Config(
            self._app, lifespan="off", access_log=False, log_config=None, log_level="warning",
            timeout_keep_alive=30, backlog=self._backlog,
        ))
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
        loop = self._loop_factory()
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


class FakeServer:
    """A fake served by a ``BackgroundServer``, as a context manager.

    ``base_url`` is the server's URL plus ``url_path`` (e.g. ``"/v1"``), "" until started.
    """

    def __init__(self, server: BackgroundServer, *, url_path: str = "") -> None:
        self._server, self._url_path = server, url_path
        self.base_url = ""

    def start(self, timeout_s: float = 10.0) -> Self:
        self._server.start(timeout_s)
        self.base_url = self._server.url + self._url_path
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.stop(timeout_s)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _fresh(value: Any) -> Any:
    """A shallow copy of a mutable container (the running app may mutate it), else the value."""
    return value.copy() if isinstance(value, (list, dict, set)) else value


class ConfigurableFake(FakeServer):
    """A fake whose service holds ``self.config`` (a dataclass with ``api_keys``) and has ``reset()``.

    Set ``self.config`` and ``self.service`` before calling ``__init__``: it remembers the
    config as given, for ``reset()``. ``lock``: the lock under which the service reads and
    counts down config fields, if it has one; ``configure`` takes it too.
    """

    config: Any
    service: Any

    def __init__(self, server: BackgroundServer, *, url_path: str = "", lock: AbstractContextManager[Any] | None = None) -> None:
        super().__init__(server, url_path=url_path)
        self._lock = lock if lock is not None else contextlib.nullcontext()
        self._initial = {f.name: _fresh(getattr(self.config, f.name)) for f in dataclasses.fields(self.config)}

    @property
    def api_key(self) -> str:
        """The first accepted key ("" for an open server)."""
        return next(iter(sorted(self.config.api_keys)), "")

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def configure(self, **overrides: Any) -> None:
        """Change config fields on the running server, e.g. ``configure(latency_s=0.3)``."""
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self.config)}
        if unknown:
            raise TypeError(f"unknown {type(self.config).__name__} fields: {sorted(unknown)}")
        with self._lock:
            for name, value in overrides.items():
                setattr(self.config, name, value)  # in place: the service holds this very object

    def reset(self, *, restore_config: bool = True) -> None:
        """Forget what the service recorded; by default also undo configure().

        Cheaper than a server per test: one per module plus reset() per test.
        """
        if restore_config:
            self.configure(**{name: _fresh(value) for name, value in self._initial.items()})
        self.service.reset()


class RequestLog(Generic[RecordT]):
    """A fake service's record of every request (arrival order) and its peak of concurrent requests."""

    def __init__(self) -> None:
        self.requests: list[RecordT] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def reset(self) -> None:
        self.requests.clear()
        self.in_flight = self.max_in_flight = 0

    @contextlib.contextmanager
    def counted_in_flight(self) -> Iterator[None]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1


class RecordingFake(ConfigurableFake, Generic[RecordT]):
    """A ``ConfigurableFake`` whose service is a ``RequestLog``."""

    service: RequestLog[RecordT]

    @property
    def requests(self) -> list[RecordT]:
        """Every request so far (a copy), in arrival order."""
        return list(self.service.requests)

    @property
    def max_in_flight(self) -> int:
        return self.service.max_in_flight


def wait_for_shutdown(poll_s: float = 0.5) -> None:
    """Block until SIGINT (Ctrl-C) or SIGTERM; for a fake run as a process, in the main thread."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(poll_s):  # short waits keep signals responsive
        pass
