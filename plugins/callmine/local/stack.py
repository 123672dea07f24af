"""A real local Airflow 3 deployment as separate processes (no Docker).

api-server, scheduler, dag-processor and triggerer with the LocalExecutor on SQLite,
pointed at this project's dags/ and plugins/. Used by ``callmine run`` / ``up``, the
demo, the integration tests and the benchmarks. Every process gets its own session so
``stop()`` ends the whole tree (``airflow standalone`` leaves orphans behind).

A deployment started with ``detach=True`` outlives the command that started it: its
port and process groups are written to ``<home>/deployment.json`` so ``callmine
down`` (or ``AirflowStack.attach``) finds it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import httpx

from callmine.config import PROJECT_ROOT as ROOT

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DEPLOYMENT_FILE = "deployment.json"
_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD", re.IGNORECASE)
ADMIN_USER = "admin"


def airflow_executable() -> str:
    """The ``airflow`` of the interpreter running callmine (the project's .venv)."""
    return str(Path(sys.executable).with_name("airflow"))


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
    # False: real logins (user ``admin``, generated password); True: everyone is admin (tests).
    all_admins: bool = True
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _token: str | None = None
    detached_pids: dict[str, int] = field(default_factory=dict)  # set by attach()

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
            # SQLite: four components and the CLI write one file; wait for a lock (60 s)
            # instead of failing at SQLite's default 5 s under load.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home.resolve()}/airflow.db?timeout=60",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(self.all_admins),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
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
        """Run an ``airflow`` CLI command against this deployment (a failure carries its stderr).

        SQLite answers "database is locked" at once, busy timeout or not, when two writers
        would deadlock; the CLI's commands here are transactional (nothing is left behind by
        the failed try), so such a failure is retried a few times.
        """
        for attempt in range(5):
            done = subprocess.run(
                [airflow_executable(), *args], env=self.env(), capture_output=True, text=True, timeout=timeout,
            )
            if done.returncode == 0 or "database is locked" not in (done.stderr + done.stdout):
                break
            time.sleep(1 + attempt)
        if check and done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"`airflow {' '.join(args[:3])} ...` exited {done.returncode}:\n{tail}")
        return done

    def migrate(self) -> None:
        """``airflow db migrate``, once per home and Airflow version (a stamp file remembers)."""
        from airflow import __version__ as airflow_version

        pools = ROOT / "include" / "pools.json"
        want = f"{airflow_version} {hashlib.sha256(pools.read_bytes()).hexdigest()[:16]}"
        stamp = self.home / ".migrated"
        if stamp.exists() and stamp.read_text().strip() == want and (self.home / "airflow.db").exists():
            return
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")
        # The per-provider pools (include_deferred) the DAG's wait and analyze steps run in.
        self.airflow("pools", "import", str(pools))
        stamp.write_text(want + "\n")

    def start(self, timeout: float = 180, detach: bool = False) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.migrate()
        for name in COMPONENTS:
            with open(self.home / "logs" / f"{name}.out", "ab") as log:
                self.processes[name] = subprocess.Popen(
                    [airflow_executable(), name], env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.home,
                )
        if detach:
            self._write_deployment()
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    # -- a deployment that outlives its command (callmine up / down) --------------------
    def _write_deployment(self) -> None:
        # Never a secret on disk: connections and anything key-like stay in the processes' environment.
        public_env = {k: v for k, v in self.extra_env.items()
                      if not k.startswith("AIRFLOW_CONN_") and not _SECRET_NAME.search(k)}
        record = {"port": self.port, "all_admins": self.all_admins, "extra_env": public_env,
                  "pids": {name: proc.pid for name, proc in self.processes.items()}}
        path = self.home / DEPLOYMENT_FILE
        path.write_text(json.dumps(record, indent=2))
        path.chmod(0o600)

    @classmethod
    def attach(cls, home: Path) -> AirflowStack | None:
        """The detached deployment recorded in ``home``, if its processes are still alive."""
        try:
            record = json.loads((home / DEPLOYMENT_FILE).read_text())
        except (OSError, ValueError):
            return None
        if not all(_alive(pid) for pid in record["pids"].values()):
            return None
        stack = cls(home=home, extra_env=record.get("extra_env", {}), port=record["port"],
                    all_admins=record.get("all_admins", True))
        stack.detached_pids = dict(record["pids"])
        return stack

    def stop_detached(self, timeout: float = 20) -> None:
        """Stop a deployment found by ``attach`` (each component's whole process group)."""
        _stop_groups(list(self.detached_pids.values()), timeout)
        (self.home / DEPLOYMENT_FILE).unlink(missing_ok=True)

    def admin_password(self) -> str | None:
        """The generated password of ``admin`` (None when everyone is admin)."""
        if self.all_admins:
            return None
        path = self.home / "simple_auth_manager_passwords.json.generated"
        try:
            return json.loads(path.read_text()).get(ADMIN_USER)
        except (OSError, ValueError):
            return None

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
        (self.home / DEPLOYMENT_FILE).unlink(missing_ok=True)

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
            password = self.admin_password()
            body = {"username": ADMIN_USER, "password": password} if password else {}
            response = httpx.post(f"{self.base_url}/auth/token", json=body, timeout=30)
            if response.status_code >= 400 and not password:
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

    def backfill(
        self, dag_id: str, from_date: str, to_date: str, timeout: float = 900, *,
        conf: dict[str, Any] | None = None, reprocess: str | None = None,
        on_poll: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """``airflow backfill create`` (the operator's command), then wait for the backfill to complete.

        Returns the backfill's runs. Days that already had a run (e.g. the scheduler's
        latest interval) are skipped by the default reprocess behaviour, as in production;
        ``reprocess="completed"`` runs them again. ``on_poll(runs)`` gets the backfill's
        runs on every poll (progress output).
        """
        args = ["backfill", "create", "--dag-id", dag_id, "--from-date", from_date, "--to-date", to_date]
        if conf:
            args += ["--dag-run-conf", json.dumps(conf)]
        if reprocess:
            args += ["--reprocess-behavior", reprocess]
        self.airflow(*args)
        newest = max(self.api("GET", "/backfills", params={"dag_id": dag_id})["backfills"], key=lambda b: b["id"])

        created = _timestamp(newest["created_at"])

        def backfill_runs() -> list[dict[str, Any]]:
            # The run listing does not name the backfill. Its runs are the backfill runs in range
            # queued since it was created (a reprocessed day re-queues its existing run).
            return sorted(
                (r for r in self.runs(dag_id)
                 if r["run_type"] == "backfill" and from_date <= r["logical_date"][:10] <= to_date
                 and r.get("queued_at") and _timestamp(r["queued_at"]) >= created),
                key=lambda r: r["logical_date"],
            )

        deadline = time.monotonic() + timeout
        while self.api("GET", f"/backfills/{newest['id']}")["completed_at"] is None:
            if on_poll:
                on_poll(backfill_runs())
            if time.monotonic() > deadline:
                raise TimeoutError(f"backfill {from_date}..{to_date} not complete after {timeout}s")
            time.sleep(3)
        runs = backfill_runs()
        if on_poll:
            on_poll(runs)
        return runs

    def logs_tail(self, lines: int = 40) -> str:
        out = []
        for name in COMPONENTS:
            path = self.home / "logs" / f"{name}.out"
            if path.exists():
                out.append(f"--- {name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_groups(pids: list[int], timeout: float) -> None:
    """SIGTERM each process group, then SIGKILL what is left after ``timeout``."""
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.3)
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
