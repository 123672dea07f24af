"""Start the speech service the demo and benchmarks talk to, as its own process."""

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


def start_fake_pyai(log_dir: Path, *flags: str, timeout: float = 30) -> ServiceProcess:
    """The test fake of the PyAI jobs API, open (no key), fetching http audio, on free ports."""
    port, result_port = free_port(), free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "fake-pyai.out"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_pyai", "--port", str(port), "--result-port", str(result_port),
         "--open", "--allow-http-audio", *flags],
        cwd=ROOT, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
    )
    service = ServiceProcess(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"fake PyAI exited with {process.returncode}; see {log_path}")
        try:
            if httpx.get(f"{service.base_url}/v1/me", timeout=2).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    service.stop()
    raise TimeoutError(f"fake PyAI not answering after {timeout}s; see {log_path}")
