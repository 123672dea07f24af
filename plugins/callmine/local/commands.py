"""``callmine run`` / ``up`` / ``down`` / ``airflow``: callmine on this machine, through Airflow's own CLI.

``run`` processes one day with ``airflow dags test`` (triggers run inline) or a range
with ``airflow backfill create`` on a local deployment (the one ``up`` keeps running,
else a temporary one), prints progress per day and batch, and ends with the days'
summary from DuckDB. Without a provider connection the embedded engine transcribes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from callmine.local.home import DAG_ID, LocalHome
from callmine.local.progress import RunWatcher, dags_test_line
from callmine.local.services import start_engine, stop_pid
from callmine.local.stack import AirflowStack, airflow_executable
from callmine.local.summary import format_summary


class RunError(Exception):
    """An expected failure of a local command: one line for the user, exit code 1."""


@dataclass(frozen=True)
class RunRequest:
    source: str  # absolute
    warehouse: str  # absolute path or URL
    days: list[date]
    conf: dict[str, Any]  # DAG params for the run(s)
    provider: str = "pyai"


def say(text: str) -> None:
    print(text, flush=True)


# -- run ------------------------------------------------------------------------------


def run(request: RunRequest, home: LocalHome | None = None) -> int:
    home = home or LocalHome()
    first, last = request.days[0].isoformat(), request.days[-1].isoformat()
    span = first if first == last else f"{first} .. {last} ({len(request.days)} days)"
    say(f"[callmine] recordings {request.source}, call date {span}")
    say(f"[callmine] warehouse  {request.warehouse}")
    deployment = home.running()
    if deployment is not None:
        say(f"[callmine] using the running local deployment at {deployment.base_url}")
        ok = _run_on_deployment(deployment, request)
    else:
        with _speech_service(home, request.provider) as engine_env:
            if len(request.days) == 1:
                ok = _dags_test(home, request, engine_env)
            else:
                ok = _backfill_on_temporary_deployment(home, request, engine_env)
    say("")
    say(format_summary(request.warehouse, request.source, [d.isoformat() for d in request.days]))
    if not ok:
        say(f"[callmine] some runs failed; Airflow logs: {home.airflow_home / 'logs'}")
    return 0 if ok else 1


@contextmanager
def _speech_service(home: LocalHome, provider: str) -> Iterator[dict[str, str]]:
    """The embedded engine, when no provider connection is configured (its URL as env)."""
    if home.has_connection(provider):
        say(f"[callmine] provider {provider}: using its Airflow connection")
        yield {}
        return
    say("[callmine] no provider connection: starting the embedded speech engine (offline) ...")
    engine = start_engine(home.engine_dir)
    say(f"[callmine] speech engine at {engine.base_url} (log {engine.log_path})")
    try:
        yield {"CALLMINE_ENGINE_URL": engine.base_url}
    finally:
        engine.stop()


def _dags_test(home: LocalHome, request: RunRequest, engine_env: dict[str, str]) -> bool:
    stack = home.stack(engine_env)
    stack.migrate()
    day = request.days[0].isoformat()
    argv = [airflow_executable(), "dags", "test", DAG_ID, day, "--conf", json.dumps(request.conf)]
    say(f"[callmine] airflow dags test {DAG_ID} {day}")
    env = stack.env()
    env.pop("AIRFLOW__CORE__EXECUTION_API_SERVER_URL")  # dags test serves the execution API in-process
    log_path = home.airflow_home / "logs" / f"dags-test-{day}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    failed = False
    with open(log_path, "w") as log, subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=home.airflow_home,
        stdin=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if "state=failed" in line or "marked as failed" in line.lower():
                failed = True
            if (shown := dags_test_line(line)) is not None:
                say(shown)
    if proc.returncode != 0 or failed:
        say(f"[callmine] the run for {day} failed; full log: {log_path}")
        return False
    return True


def _backfill_on_temporary_deployment(home: LocalHome, request: RunRequest, engine_env: dict[str, str]) -> bool:
    # Only the backfill runs here: no scheduled run for "yesterday" when the DAG is unpaused.
    stack = home.stack({**engine_env, "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"})
    say("[callmine] starting a local Airflow (api-server, scheduler, dag-processor, triggerer) ...")
    started = time.monotonic()
    stack.start()
    try:
        say(f"[callmine] Airflow healthy at {stack.base_url} after {time.monotonic() - started:.0f}s")
        return _run_on_deployment(stack, request)
    finally:
        say("[callmine] stopping the local Airflow")
        stack.stop()


def _run_on_deployment(stack: AirflowStack, request: RunRequest) -> bool:
    stack.wait_dag(DAG_ID)
    stack.unpause(DAG_ID)
    watcher = RunWatcher(say)
    first, last = request.days[0].isoformat(), request.days[-1].isoformat()

    finished: set[str] = set()

    def show(runs: list[dict[str, Any]]) -> None:
        for run in runs:
            if run["dag_run_id"] in finished:
                continue
            watcher.update(run["logical_date"][:10], stack.task_instances(DAG_ID, run["dag_run_id"]))
            if run["state"] in ("success", "failed"):
                finished.add(run["dag_run_id"])

    if len(request.days) == 1:
        run_id = stack.trigger(DAG_ID, f"{first}T00:00:00Z", request.conf)
        say(f"[callmine] triggered {DAG_ID} for {first} ({run_id})")
        deadline = time.monotonic() + 3600
        while (state := stack.run_state(DAG_ID, run_id)) not in ("success", "failed"):
            watcher.update(first, stack.task_instances(DAG_ID, run_id))
            if time.monotonic() > deadline:
                raise RunError(f"run {run_id} still {state} after an hour")
            time.sleep(2)
        watcher.update(first, stack.task_instances(DAG_ID, run_id))
        say(f"  {first}  run {state}")
        return state == "success"
    say(f"[callmine] airflow backfill create --dag-id {DAG_ID} --from-date {first} --to-date {last}")
    runs = stack.backfill(DAG_ID, first, last, timeout=6 * 3600, conf=request.conf,
                          reprocess="completed", on_poll=show)
    for run in runs:
        say(f"  {run['logical_date'][:10]}  run {run['state']}")
    return bool(runs) and all(run["state"] == "success" for run in runs)


# -- up / down ------------------------------------------------------------------------


def up(home: LocalHome | None = None, provider: str = "pyai") -> int:
    home = home or LocalHome()
    running = home.running()
    if running is not None:
        _print_access(running)
        return 0
    (home.root / "data" / "recordings").mkdir(parents=True, exist_ok=True)  # the default source
    extra_env: dict[str, str] = {}
    if not home.has_connection(provider):
        engine = start_engine(home.engine_dir, detach=True)
        home.engine_record.write_text(json.dumps({"pid": engine.process.pid, "url": engine.base_url}))
        extra_env["CALLMINE_ENGINE_URL"] = engine.base_url
        say(f"[callmine] embedded speech engine at {engine.base_url} (no {provider} connection configured)")
    stack = home.stack(extra_env, all_admins=False)
    say("[callmine] starting Airflow (api-server, scheduler, dag-processor, triggerer) ...")
    try:
        stack.start(detach=True)
    except BaseException:
        _stop_engine(home)
        raise
    _print_access(stack)
    say("[callmine] stop it with: bin/callmine down")
    return 0


def _print_access(stack: AirflowStack) -> None:
    say(f"[callmine] Airflow UI: {stack.base_url}")
    password = stack.admin_password()
    say(f"[callmine] login: admin / {password}" if password else "[callmine] login: none needed (all users are admin)")
    say(f"[callmine] logs: {stack.home / 'logs'}")


def down(home: LocalHome | None = None) -> int:
    home = home or LocalHome()
    stack = home.running()
    if stack is None:
        say("[callmine] no local deployment is running")
    else:
        stack.stop_detached()
        say("[callmine] local Airflow stopped")
    if _stop_engine(home):
        say("[callmine] speech engine stopped")
    return 0


def _stop_engine(home: LocalHome) -> bool:
    try:
        record = json.loads(home.engine_record.read_text())
    except (OSError, ValueError):
        return False
    stop_pid(int(record["pid"]))
    home.engine_record.unlink(missing_ok=True)
    return True


# -- airflow passthrough ----------------------------------------------------------------


# Commands that run tasks in this process: they need a speech service, like `run`.
_RUNS_TASKS = (("dags", "test"), ("tasks", "test"))


def airflow_cli(args: list[str], home: LocalHome | None = None) -> int:
    """``airflow ARGS`` against the project-local home (dags, plugins, metadata DB).

    With a deployment up (``callmine up``) its settings are used, its engine included.
    ``dags test`` / ``tasks test`` without one get the embedded engine for their duration
    when no provider connection is configured.
    """
    home = home or LocalHome()
    running = home.running()
    stack = running or home.stack()
    stack.migrate()
    env = stack.env()
    if running is None:
        env.pop("AIRFLOW__CORE__EXECUTION_API_SERVER_URL")
        if tuple(args[:2]) in _RUNS_TASKS:
            with _speech_service(home, os.environ.get("CALLMINE_PROVIDER") or "pyai") as engine_env:
                return subprocess.call([airflow_executable(), *args], env={**env, **engine_env})
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execve(airflow_executable(), [airflow_executable(), *args], env)
    return 0  # not reached


def day_range(first: date, last: date) -> list[date]:
    if last < first:
        raise RunError(f"--to {last} is before --from {first}")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def check_source(path: Path) -> str:
    if not path.is_dir():
        raise RunError(f"no recordings folder at {path}")
    return str(path)


