"""A real local Airflow 3 deployment as separate processes (no Docker).

api-server, scheduler, dag-processor and triggerer with the LocalExecutor on SQLite,
pointed at this project's dags/ and plugins/. Used by the demo, the integration
tests and the benchmarks. Every process gets its own session so ``stop()`` ends
the whole tree (``airflow standalone`` leaves orphans behind).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AirflowStack:
    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    parallelism: int = 4
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _token: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        secret_file = self.home / ".secrets"
        if not secret_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(f"{secrets.token_hex(32)}\n{secrets.token_hex(32)}\n")
        jwt_secret, api_secret = secret_file.read_text().split()
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
            "AIRFLOW__API__SECRET_KEY": api_secret,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "CALLMINE_HOME": str(ROOT),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")]),
        }
        env.update(self.extra_env)
        return env

    def airflow(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run an ``airflow`` CLI command against this deployment."""
        return subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), *args],
            env=self.env(), capture_output=True, text=True, check=check, timeout=timeout,
        )

    def start(self, timeout: float = 180) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")
        for name in COMPONENTS:
            log = open(self.home / "logs" / f"{name}.out", "ab")
            self.processes[name] = subprocess.Popen(
                [str(Path(sys.executable).with_name("airflow")), name],
                env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.home,
            )
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"airflow {name} exited with {proc.returncode}; see {self.home}/logs/{name}.out")
            try:
                last = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
                if all(last.get(c, {}).get("status") == "healthy" for c in ("metadatabase", "scheduler", "triggerer", "dag_processor")):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1)
        raise TimeoutError(f"Airflow not healthy after {timeout}s: {last}")

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()

    def __enter__(self) -> AirflowStack:
        # A plain `kill` of the driving script must still stop the deployment.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- REST API --------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None:
            response = httpx.post(f"{self.base_url}/auth/token", json={}, timeout=30)
            if response.status_code >= 400:
                response = httpx.get(f"{self.base_url}/auth/token", timeout=30)
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method, f"{self.base_url}/api/v2{path}", headers={"Authorization": f"Bearer {self.token()}"},
            timeout=60, **kwargs,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def wait_dag(self, dag_id: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api("GET", f"/dags/{dag_id}")
                return
            except RuntimeError:
                time.sleep(2)
        errors = self.api("GET", "/importErrors")
        raise TimeoutError(f"DAG {dag_id} not parsed after {timeout}s; import errors: {errors}")

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, logical_date: str, conf: dict[str, Any] | None = None) -> str:
        run = self.api(
            "POST", f"/dags/{dag_id}/dagRuns",
            json={"logical_date": logical_date, "conf": conf or {}},
        )
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        state = "unknown"
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"run {run_id} still {state} after {timeout}s")

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (the API pages at 100)."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                            params={"limit": 100, "offset": len(out)})
            out.extend(page["task_instances"])
            if not page["task_instances"] or len(out) >= page["total_entries"]:
                return out

    def clear_run(self, dag_id: str, run_id: str) -> None:
        self.api("POST", f"/dags/{dag_id}/dagRuns/{run_id}/clear", json={"dry_run": False})

    def backfill(self, dag_id: str, from_date: str, to_date: str, timeout: float = 900) -> list[dict[str, Any]]:
        """``airflow backfill create`` (the operator's command), then wait for the backfill to complete.

        Returns the backfill's runs. Days that already had a run (e.g. the scheduler's
        latest interval) are skipped by the default reprocess behaviour, as in production.
        """
        self.airflow("backfill", "create", "--dag-id", dag_id, "--from-date", from_date, "--to-date", to_date)
        newest = max(self.api("GET", "/backfills", params={"dag_id": dag_id})["backfills"], key=lambda b: b["id"])
        deadline = time.monotonic() + timeout
        while self.api("GET", f"/backfills/{newest['id']}")["completed_at"] is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"backfill {from_date}..{to_date} not complete after {timeout}s")
            time.sleep(3)
        return sorted(
            (r for r in self.runs(dag_id)
             if r["run_type"] == "backfill" and from_date <= r["logical_date"][:10] <= to_date),
            key=lambda r: r["logical_date"],
        )

    def logs_tail(self, lines: int = 40) -> str:
        out = []
        for name in COMPONENTS:
            path = self.home / "logs" / f"{name}.out"
            if path.exists():
                out.append(f"--- {name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)
