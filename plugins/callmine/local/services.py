"""Start the services a local run talks to (the embedded speech engine), each as its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from callmine.local.stack import ROOT, free_port


@dataclass
class ServiceProcess:
    process: subprocess.Popen
    base_url: str
    log_path: Path
    api_key: str | None = field(default=None, repr=False)

    def pyai_connection(self) -> str:
        """``AIRFLOW_CONN_PYAI_DEFAULT`` for this engine (its key as the password)."""
        return json.dumps({"conn_type": "http", "host": self.base_url, "password": self.api_key or ""})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_service(
    name: str, argv: list[str], port: int, log_dir: Path, ready_path: str, timeout: float, detach: bool = False,
) -> ServiceProcess:
    """Start ``argv`` (logging to ``<log_dir>/<name>.out``) and wait until ``ready_path`` answers 200.

    ``detach`` puts it in its own session, so it outlives the command that started it.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=detach)
    service = ServiceProcess(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log_path}")
        try:
            if httpx.get(service.base_url + ready_path, timeout=2).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    service.stop()
    raise TimeoutError(f"{name} not answering after {timeout}s; see {log_path}")


def start_engine(data_dir: Path, *flags: str, timeout: float = 60, detach: bool = False,
                 api_key: str | None = None) -> ServiceProcess:
    """callmine's embedded speech engine (``python -m include.engine``), on a free loopback port.

    With ``api_key`` it runs with auth on, as production does: the key goes in a key file
    (mode 0600) under ``data_dir``, never on the command line.
    """
    port = free_port()
    argv = [sys.executable, "-m", "include.engine", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data_dir), *flags]
    if api_key:
        data_dir.mkdir(parents=True, exist_ok=True)
        key_file = data_dir / "api-keys"
        key_file.write_text(api_key + "\n")
        key_file.chmod(0o600)
        argv += ["--api-key-file", str(key_file)]
    service = start_service("engine", argv, port, data_dir, "/healthz", timeout, detach=detach)
    service.api_key = api_key
    return service


def stop_pid(pid: int, timeout: float = 10) -> None:
    """Stop a detached service by pid (SIGTERM, then SIGKILL)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
