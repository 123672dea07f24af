"""Start the speech services the demo and benchmarks talk to, each as its own process."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from scripts.airflow_stack import ROOT, free_port


@dataclass
class ServiceProcess:
    process: subprocess.Popen
    base_url: str
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(name: str, argv: list[str], port: int, log_dir: Path, ready_path: str, timeout: float) -> ServiceProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.out"
    process = subprocess.Popen(argv, cwd=ROOT, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)
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


def start_engine(data_dir: Path, *flags: str, timeout: float = 60) -> ServiceProcess:
    """callmine's embedded speech engine (``python -m include.engine``), open, on a free port."""
    port = free_port()
    argv = [sys.executable, "-m", "include.engine", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data_dir), *flags]
    return _start("engine", argv, port, data_dir, "/healthz", timeout)


def start_fake_pyai(log_dir: Path, *flags: str, timeout: float = 30) -> ServiceProcess:
    """The test fake of the PyAI jobs API, open (no key), fetching http audio, on free ports."""
    port, result_port = free_port(), free_port()
    argv = [sys.executable, "-m", "tests.fake_pyai", "--port", str(port), "--result-port", str(result_port),
            "--open", "--allow-http-audio", *flags]
    return _start("fake-pyai", argv, port, log_dir, "/v1/me", timeout)
