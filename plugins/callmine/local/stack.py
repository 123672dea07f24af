"""A real local Airflow 3 deployment as separate processes (no Docker).

api-server, scheduler, dag-processor and triggerer with the LocalExecutor on SQLite,
pointed at this project's dags/ and plugins/. Used by ``callmine run`` / ``up``, the
demo, the integration tests and the benchmarks. Every process gets its own session so
``stop()`` ends the whole tree (``airflow standalone`` leaves orphans behind).

The production shape is the same class with two options: ``database_url`` (a PostgreSQL
metadata DB instead of the SQLite file) and ``celery`` (``CeleryExecutor`` on a Redis
broker, plus one ``airflow celery worker`` process per named worker). The caller brings
the PostgreSQL and Redis servers; the SQLite/LocalExecutor default is unchanged.

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
from pathlib import Path
from typing import Any

import httpx

from callmine.config import PROJECT_ROOT as ROOT
from callmine.local.airflow_api import ADMIN_USER, AirflowApi

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
WORKER_PREFIX = "celery-"  # component name of a Celery worker: celery-<worker name>
DEPLOYMENT_FILE = "deployment.json"
_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD", re.IGNORECASE)


def airflow_executable() -> str:
    """The ``airflow`` of the interpreter running callmine (the project's .venv)."""
    return str(Path(sys.executable).with_name("airflow"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hostname_from_env() -> str:
    """``[core] hostname_callable`` of the local Celery workers: ``CALLMINE_HOSTNAME``, else the FQDN.

    Every worker of a local deployment runs on this one machine; each gets its own name so a
    task instance's ``hostname`` says which worker ran it, as separate hosts would.
    """
    return os.environ.get("CALLMINE_HOSTNAME") or socket.getfqdn()


@dataclass(frozen=True)
class CeleryOptions:
    """``CeleryExecutor`` settings: the broker, the result backend and the workers to start."""

    broker_url: str  # redis://host:port/db
    result_backend: str  # e.g. db+postgresql://... (Celery's SQLAlchemy backend)
    workers: tuple[str, ...] = ("worker-1", "worker-2")  # one `airflow celery worker` each
    concurrency: int = 2  # task slots per worker
    queue: str = "default"  # the queue every worker consumes ([operators] default_queue)


@dataclass
class AirflowStack(AirflowApi):
    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    parallelism: int = 4
    port: int = field(default_factory=free_port)
    # False: real logins (user ``admin``, generated password); True: everyone is admin (tests).
    all_admins: bool = True
    # SQLAlchemy URL of the metadata DB; None: the SQLite file <home>/airflow.db (the quick default).
    database_url: str | None = None
    # None: LocalExecutor (tasks run under the scheduler); set: CeleryExecutor and its workers.
    celery: CeleryOptions | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _token: str | None = None
    detached_pids: dict[str, int] = field(default_factory=dict)  # set by attach()
    _worker_log_ports: dict[str, int] = field(default_factory=dict, repr=False)

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
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url or self.sqlite_url,
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if self.celery else "LocalExecutor",
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
        if self.celery:
            env.update({
                "AIRFLOW__CELERY__BROKER_URL": self.celery.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": self.celery.result_backend,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.celery.concurrency),
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.celery.queue,
                # Each worker reports its own name (CALLMINE_HOSTNAME, set per worker) as the
                # task instances' hostname; every other process falls back to the FQDN.
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "callmine.local.stack.hostname_from_env",
            })
        env.update(self.extra_env)
        return env

    @property
    def sqlite_url(self) -> str:
        return f"sqlite:///{self.home.resolve()}/airflow.db?timeout=60"

    @property
    def uses_sqlite(self) -> bool:
        return (self.database_url or self.sqlite_url).startswith("sqlite")

    def components(self) -> tuple[str, ...]:
        """Every long-running process of this deployment, in start order."""
        workers = tuple(WORKER_PREFIX + name for name in self.celery.workers) if self.celery else ()
        return COMPONENTS + workers

    def component_command(self, name: str) -> tuple[list[str], dict[str, str]]:
        """The argv and the environment ``name`` runs with."""
        env = self.env()
        if not name.startswith(WORKER_PREFIX):
            return [airflow_executable(), name], env
        assert self.celery, name
        worker = name.removeprefix(WORKER_PREFIX)
        # Several workers on one machine: distinct Celery node names, and each its own
        # log-server port (the default 8793 would be taken by the first one).
        port = self._worker_log_ports.setdefault(name, free_port())
        env.update({"CALLMINE_HOSTNAME": worker, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port)})
        argv = [airflow_executable(), "celery", "worker", "--celery-hostname", f"{worker}@%h",
                "--queues", self.celery.queue, "--concurrency", str(self.celery.concurrency)]
        return argv, env

    def start_component(self, name: str) -> subprocess.Popen:
        """Start (or start again) one component in its own session, logging to <home>/logs/<name>.out."""
        argv, env = self.component_command(name)
        with open(self.home / "logs" / f"{name}.out", "ab") as log:
            self.processes[name] = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.home,
            )
        return self.processes[name]

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
        # Only the SQLite file lives (and dies) with the home; a server DB is migrated every
        # time (idempotent), since the stamp cannot know whether it is the same database.
        if (self.uses_sqlite and stamp.exists() and stamp.read_text().strip() == want
                and (self.home / "airflow.db").exists()):
            return
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")
        # The per-provider pools (include_deferred) the DAG's wait and analyze steps run in.
        self.airflow("pools", "import", str(pools))
        stamp.write_text(want + "\n")

    def start(self, timeout: float = 180, detach: bool = False) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.migrate()
        try:
            for name in self.components():
                self.start_component(name)
            if detach:
                self._write_deployment()
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
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1)
        else:
            raise TimeoutError(f"Airflow not healthy after {timeout}s: {last}")
        if self.celery:
            self.wait_workers(max(5.0, deadline - time.monotonic()))

    def worker_nodes(self, timeout: float = 2.0) -> set[str]:
        """Celery node names answering a broadcast ping on the broker (e.g. ``worker-1@host``)."""
        assert self.celery
        from celery import Celery as CeleryApp

        app = CeleryApp(broker=self.celery.broker_url)
        try:
            return {node for reply in app.control.ping(timeout=timeout) or [] for node in reply}
        finally:
            app.close()

    def wait_workers(self, timeout: float) -> None:
        """Wait until every named Celery worker answers a ping on the broker."""
        assert self.celery
        want = set(self.celery.workers)
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"airflow {name} exited with {proc.returncode}; see {self.home}/logs/{name}.out")
            seen = {node.split("@", 1)[0] for node in self.worker_nodes()}
            if want <= seen:
                return
            time.sleep(1)
        raise TimeoutError(f"Celery workers {sorted(want - seen)} not answering after {timeout:.0f}s "
                           f"(answering: {sorted(seen)}); see {self.home}/logs/{WORKER_PREFIX}*.out")

    def stop(self) -> None:
        """SIGTERM each component's process group; SIGKILL what is left of it after 20 s.

        The whole group even when its leader is gone: a Celery worker's pool processes (or a
        task's supervisor) must not outlive a worker that crashed or was killed. A leader still
        there after 5 s gets a second SIGTERM: on PostgreSQL the 3.3 dag-processor sometimes
        logs "Exiting gracefully" and carries on parsing (seen with the Celery deployment).
        """
        for proc in self.processes.values():
            _signal_group(proc.pid, signal.SIGTERM)
        start = time.monotonic()
        nudged = False
        while time.monotonic() - start < 20 and any(proc.poll() is None for proc in self.processes.values()):
            if not nudged and time.monotonic() - start > 5:
                nudged = True
                for proc in self.processes.values():
                    if proc.poll() is None:
                        _signal_group(proc.pid, signal.SIGTERM)
            time.sleep(0.2)
        for proc in self.processes.values():
            _signal_group(proc.pid, signal.SIGKILL)  # stragglers only: a no-op for an emptied group
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

    def logs_tail(self, lines: int = 40) -> str:
        out = []
        for name in self.components():
            path = self.home / "logs" / f"{name}.out"
            if path.exists():
                out.append(f"--- {name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


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
