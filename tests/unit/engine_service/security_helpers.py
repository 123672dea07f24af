"""Helpers of the engine's security tests (test_security_*.py): keys, engine subprocesses, probes.

Every attack test asserts the refusal AND that nothing leaked; ``assert_no_leak`` is that
second half: none of the given secrets (file content, paths, tenant data) in a response text.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil

from tests.unit.engine_service.helpers import PROCESSOR, ROOT, free_port

KEY_A = "cm_tenant_a_0123456789abcdef"
KEY_B = "cm_tenant_b_0123456789abcdef"


def assert_no_leak(text: str, *secrets: str | Path) -> None:
    for secret in secrets:
        assert str(secret) not in text, f"{str(secret)!r} leaked in {text[:500]!r}"


def problem_detail(response: Any) -> str:
    return response.json()["detail"]


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@dataclass
class CLIEngine:
    process: subprocess.Popen[str]
    base_url: str
    ready_line: str
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def engine_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLMINE_ENGINE_")}
    return {**env, "CALLMINE_ENGINE_PROCESSOR": PROCESSOR, "CALLMINE_ENGINE_WORKERS": "1", **overrides}


def run_engine(data_dir: Path, *args: str, host: str = "127.0.0.1", port: int | None = None,
               env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run `python -m include.engine` expecting it to EXIT (a refused start)."""
    argv = [sys.executable, "-m", "include.engine", "--host", host, "--port", str(port or free_port()),
            "--data-dir", str(data_dir), *args]
    return subprocess.run(argv, cwd=ROOT, env=env or engine_env(), capture_output=True, text=True, timeout=timeout)


@contextmanager
def engine_cli(data_dir: Path, *args: str, host: str = "127.0.0.1", env: dict[str, str] | None = None,
               port: int | None = None) -> Iterator[CLIEngine]:
    """`python -m include.engine` as a subprocess; yields once the ready line is printed."""
    port = port or free_port()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir.parent / f"engine-{port}.err"
    argv = [sys.executable, "-m", "include.engine", "--host", host, "--port", str(port), "--data-dir", str(data_dir),
            *args]
    with stderr_path.open("w") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env or engine_env(), stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "ready" in line, f"no ready line, got {line!r}; stderr: {stderr_path.read_text()[-2000:]}"
        yield CLIEngine(proc, f"http://127.0.0.1:{port}", line, stderr_path)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def tree_size(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


@dataclass
class Peaks:
    rss_before: int
    disk_before: int
    written_before: int
    rss_peak: int = 0
    disk_peak: int = 0
    written_after: int = 0

    @property
    def rss_growth(self) -> int:
        return self.rss_peak - self.rss_before

    @property
    def disk_growth(self) -> int:
        return self.disk_peak - self.disk_before

    @property
    def bytes_written(self) -> int:
        return self.written_after - self.written_before


@contextmanager
def watch(pid: int, data_dir: Path, every_s: float = 0.005) -> Iterator[Peaks]:
    """Sample the engine process's RSS and the data dir's size while the block runs (peaks kept),
    and the bytes the process passed to write() (psutil write_chars: files, sockets, pipes)."""
    proc = psutil.Process(pid)
    peaks = Peaks(proc.memory_info().rss, tree_size(data_dir), proc.io_counters().write_chars)
    peaks.rss_peak, peaks.disk_peak = peaks.rss_before, peaks.disk_before
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peaks.rss_peak = max(peaks.rss_peak, proc.memory_info().rss)
            peaks.disk_peak = max(peaks.disk_peak, tree_size(data_dir))
            time.sleep(every_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        time.sleep(0.1)  # let the engine finish what it was doing
        stop.set()
        thread.join()
        peaks.rss_peak = max(peaks.rss_peak, proc.memory_info().rss)
        peaks.disk_peak = max(peaks.disk_peak, tree_size(data_dir))
        peaks.written_after = proc.io_counters().write_chars


@dataclass
class Counting:
    """A body generator that counts what it handed to the client (the test stays small in memory)."""

    sent: int = 0
    chunks: list[bytes] = field(default_factory=list)

    def stream(self, head: bytes, total: int, tail: bytes, chunk: int = 1 << 20) -> Iterator[bytes]:
        block = b"A" * chunk
        yield head
        self.sent += len(head)
        while self.sent < total:
            yield block
            self.sent += len(block)
        yield tail
        self.sent += len(tail)


class RecordingServer:
    """An HTTP server on ``host`` recording every request; answers from ``routes``
    (path -> (status, headers, body)); 404 otherwise. ``hang`` paths never answer."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.hits: list[str] = []
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.hang: set[str] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.hits.append(self.path)
                if self.path in outer.hang:
                    time.sleep(5)
                    return
                status, headers, body = outer.routes.get(self.path, (404, {}, b""))
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
