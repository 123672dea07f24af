"""A throwaway Redis server (Debian's ``redis-server``) for tests: temp dir, free loopback port.

The Celery broker of the production-shaped test deployment. Nothing is persisted (no RDB
snapshots, no AOF); the server runs in its own session so ``stop()`` ends it whatever
happens to the test.

    server = start_redis(tmp_path / "redis")
    server.url   # redis://127.0.0.1:PORT/0
    server.stop()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "run `bash scripts/install_deployment_packages.sh` (apt-get install redis-server, as root)"


def redis_server_binary() -> str:
    path = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None)
    if path is None:
        raise RuntimeError(f"redis-server is not installed: {INSTALL_HINT}")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ping(port: int, timeout: float = 1.0) -> bool:
    """True when the server at ``port`` answers PING with PONG (plain RESP, no client library)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    base_dir: Path
    port: int
    process: subprocess.Popen = field(repr=False)

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "redis.log"

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_redis(base_dir: Path, timeout: float = 20) -> RedisServer:
    """Start ``redis-server`` on a free loopback port with its files under ``base_dir``."""
    binary = redis_server_binary()
    base_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    argv = [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
        "--dir", str(base_dir), "--logfile", str(base_dir / "redis.log"), "--daemonize", "no",
        "--save", "", "--appendonly", "no",
        # a test deployment is small: never let Redis grow past this, and say so loudly if it tries
        "--maxmemory", "256mb", "--maxmemory-policy", "noeviction",
    ]
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True, cwd=base_dir)
    server = RedisServer(base_dir, port, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = server.log_path.read_text(errors="replace")[-2000:] if server.log_path.exists() else ""
            raise RuntimeError(f"redis-server exited with {process.returncode}:\n{tail}")
        if ping(port):
            return server
        time.sleep(0.1)
    server.stop()
    raise TimeoutError(f"redis-server not answering on port {port} after {timeout}s; see {server.log_path}")
