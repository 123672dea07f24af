"""Run the fake chat-completions server on 127.0.0.1 (free port) in a daemon thread.

>>> with FakeOpenAIChat(latency_s=0.1) as fake:
...     openai.OpenAI(base_url=fake.base_url, api_key=fake.api_key).models.list()

``base_url`` ends in ``/v1``, the way the openai client takes it.
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

from .app import ChatService, create_app
from .config import ChatConfig, RecordedRequest


class FakeOpenAIChat:
    def __init__(self, config: ChatConfig | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 **overrides: Any) -> None:
        self.config = dataclasses.replace(config or ChatConfig(), **overrides)
        self._initial = dataclasses.replace(self.config, api_keys=set(self.config.api_keys),
                                            models=list(self.config.models), script=list(self.config.script))
        self.service = ChatService(self.config)
        self._host, self._port = host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.base_url = ""

    @property
    def api_key(self) -> str:
        """The first accepted key ("" for an open server)."""
        return next(iter(sorted(self.config.api_keys)), "")

    @property
    def default_model(self) -> str:
        return self.config.models[0]

    # -- test controls ------------------------------------------------------------------
    def configure(self, **overrides: Any) -> None:
        """Change ChatConfig fields on the running server, e.g. ``configure(rate_limit_times=2)``."""
        unknown = set(overrides) - {f.name for f in dataclasses.fields(ChatConfig)}
        if unknown:
            raise TypeError(f"unknown ChatConfig fields: {sorted(unknown)}")
        for name, value in overrides.items():
            setattr(self.config, name, value)  # the service holds this very object

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far (a copy), in arrival order."""
        return list(self.service.requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def max_in_flight(self) -> int:
        return self.service.max_in_flight

    def reset(self, *, restore_config: bool = True) -> None:
        """Forget requests and the in-flight peak; by default also undo configure().

        Cheaper than a server per test: one per module plus reset() per test.
        """
        if restore_config:
            initial = self._initial
            self.configure(**{f.name: getattr(initial, f.name) for f in dataclasses.fields(initial)})
            self.config.api_keys, self.config.models = set(initial.api_keys), list(initial.models)
            self.config.script = list(initial.script)
        self.service.reset()

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        sock.setblocking(False)
        self.base_url = f"http://{self._host}:{sock.getsockname()[1]}/v1"
        self._thread = threading.Thread(target=self._run, args=(sock,), name="fake-openai-chat", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            self.stop()
            raise RuntimeError("fake chat server did not start") from self._error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True  # uvicorn polls it; safe from another thread
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        config = uvicorn.Config(
            create_app(self.service), lifespan="off", access_log=False, log_config=None,
            log_level="warning", timeout_keep_alive=30, backlog=4096,
        )
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


@contextlib.contextmanager
def serve_fake(latency_s: float = 0.0, **overrides: Any) -> Any:
    """The fake with a fixed answer latency, e.g. for the analyze_many benchmark."""
    with FakeOpenAIChat(latency_s=latency_s, **overrides) as fake:
        yield fake
