"""AirflowStack's deployment options: the SQLite/LocalExecutor default, and PostgreSQL + Celery.

No Airflow process is started here (tests/integration/test_celery_deployment.py runs the
real thing); what is checked is what each component would be started with, and that
``stop()`` leaves no process of a component's group behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from callmine.local.stack import COMPONENTS, AirflowStack, CeleryOptions, hostname_from_env

CELERY = CeleryOptions(broker_url="redis://127.0.0.1:6390/0",
                       result_backend="db+postgresql://postgres@127.0.0.1:5440/celery_results")
PG = "postgresql+psycopg://postgres@127.0.0.1:5440/airflow"


def test_the_default_is_localexecutor_on_the_sqlite_file(tmp_path: Path) -> None:
    stack = AirflowStack(home=tmp_path)
    env = stack.env()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path.resolve()}/airflow.db?timeout=60"
    assert not [key for key in env if key.startswith("AIRFLOW__CELERY__")]
    assert env.get("AIRFLOW__CORE__HOSTNAME_CALLABLE") == os.environ.get("AIRFLOW__CORE__HOSTNAME_CALLABLE")
    assert stack.components() == COMPONENTS
    assert stack.uses_sqlite
    argv, _ = stack.component_command("scheduler")
    assert argv[1:] == ["scheduler"]


def test_celery_on_postgresql(tmp_path: Path) -> None:
    stack = AirflowStack(home=tmp_path, database_url=PG, celery=CELERY, extra_env={"CALLMINE_X": "1"})
    env = stack.env()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == PG
    assert env["AIRFLOW__CELERY__BROKER_URL"] == CELERY.broker_url
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == CELERY.result_backend
    assert env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "default"
    assert not stack.uses_sqlite
    assert stack.components() == (*COMPONENTS, "celery-worker-1", "celery-worker-2")


def test_each_worker_has_its_own_name_queue_and_log_port(tmp_path: Path) -> None:
    stack = AirflowStack(home=tmp_path, database_url=PG, celery=CELERY, extra_env={"CALLMINE_X": "1"})
    commands = {name: stack.component_command(f"celery-{name}") for name in CELERY.workers}
    ports = set()
    for name, (argv, env) in commands.items():
        assert argv[1:] == ["celery", "worker", "--celery-hostname", f"{name}@%h", "--queues", "default",
                            "--concurrency", str(CELERY.concurrency)]
        assert env["CALLMINE_HOSTNAME"] == name  # the task instances' hostname on this worker
        assert env["CALLMINE_X"] == "1"  # extra_env reaches the workers too
        ports.add(env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"])
    assert len(ports) == 2
    # the same port on a restart of the same worker
    assert stack.component_command("celery-worker-1")[1]["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == (
        commands["worker-1"][1]["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"])
    # the other components keep the FQDN (no CALLMINE_HOSTNAME)
    assert "CALLMINE_HOSTNAME" not in stack.component_command("triggerer")[1]


def test_hostname_callable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLMINE_HOSTNAME", "worker-7")
    assert hostname_from_env() == "worker-7"
    monkeypatch.delenv("CALLMINE_HOSTNAME")
    assert hostname_from_env()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_stop_ends_whole_groups_even_when_the_leader_is_gone_or_deaf(tmp_path: Path) -> None:
    stack = AirflowStack(home=tmp_path)
    pid_file = tmp_path / "pids"
    # a leader that exits at once and leaves a child behind (a crashed worker's pool process)
    orphaning = subprocess.Popen(["sh", "-c", f"sleep 300 & echo $! >> {pid_file}; exit 0"],
                                 start_new_session=True)
    # a leader that ignores the first SIGTERM (as the dag-processor sometimes does)
    deaf = subprocess.Popen(["sh", "-c", f"echo $$ >> {pid_file}; trap 'trap - TERM' TERM; "
                                         "while true; do sleep 0.1; done"], start_new_session=True)
    stack.processes = {"orphaning": orphaning, "deaf": deaf}
    deadline = time.monotonic() + 5
    while (not pid_file.exists() or len(pid_file.read_text().split()) < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = [int(p) for p in pid_file.read_text().split()]
    started = time.monotonic()
    stack.stop()
    assert time.monotonic() - started < 15  # the second SIGTERM, not the SIGKILL at 20 s
    time.sleep(0.2)
    assert not [pid for pid in pids if _alive(pid)]
    assert deaf.returncode == -signal.SIGTERM  # the second SIGTERM ended it
    assert stack.processes == {}
