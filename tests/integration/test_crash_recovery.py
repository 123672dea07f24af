"""Crash recovery on a real Airflow deployment (docs/operations.md, "What happens on each failure").

One deployment for the module (api-server, scheduler, dag-processor, triggerer; LocalExecutor)
and one fake PyAI service. Its ``pyai_default`` connection lives in the metadata database, so
the engine test can point it at callmine's embedded engine for a while. Each scenario runs
its own warehouse; the crash scenarios are compared with a clean run of the same recordings:

- the triggerer SIGKILLed (its whole process group) while batches are deferred, then restarted;
- the worker running ``load`` SIGKILLed after every temp file is written and before the first
  rename (the ``CALLMINE_TEST_PAUSE_BEFORE_PUBLISH`` hook of ``Warehouse.replace_calls``);
- the embedded engine SIGKILLed (with its worker processes) mid-job, restarted on the same
  data dir and port;
- 200 recordings against a provider failing one request in five at random (429, 5xx, answers
  past the client's timeout, dropped connections).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from callmine.local.services import ServiceProcess, start_engine, start_service
from callmine.local.stack import AirflowStack, airflow_executable
from callmine.warehouse import connect
from callmine.warehouse.schema import SPECS
from tests.audio import write_wav
from tests.fake_pyai import FakeConfig, FakePyAIServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "include" / "samples" / "calls"
DAG_ID = "call_archive_mining"
DAY = "2026-11-20"  # the triggerer and load crashes, and their clean reference
ENGINE_DAY = "2026-11-22"
BIG_DAY = "2026-11-24"
PAUSE_ENV = "CALLMINE_TEST_PAUSE_BEFORE_PUBLISH"
FAKE_LATENCY_S = 3.0
# Columns that name the run or the moment, not the call (the brief's exclusions), plus the
# provider's job id: the triggerer test makes the fake forget its jobs first, so its jobs are
# new ones (that test checks its job ids against the fake separately).
NOT_COMPARED = {"calls": ("ingested_at", "run_id", "provider_job_id"), "call_insights": ("generated_at",)}


@dataclass
class Env:
    stack: AirflowStack
    fake: FakePyAIServer
    base: Path

    @property
    def pause_file(self) -> Path:
        """Where the load hook writes its pid; the hook is armed while the folder exists."""
        return self.base / "pause" / "load.pid"

    def trigger(self, day: str, second: int, source: Path, warehouse: Path, batch_size: int) -> str:
        conf = {"source_uri": str(source), "warehouse_uri": str(warehouse), "batch_size": batch_size}
        return self.stack.trigger(DAG_ID, f"{day}T00:00:{second:02d}Z", conf)

    def use_provider(self, host: str, password: str | None) -> None:
        """Point ``pyai_default`` (a metadata-database connection) at ``host``."""
        try:
            self.stack.api("DELETE", "/connections/pyai_default")
        except RuntimeError:
            pass  # not there yet
        body = {"connection_id": "pyai_default", "conn_type": "http", "host": host}
        if password:
            body["password"] = password
        self.stack.api("POST", "/connections", json=body)

    def use_fake(self) -> None:
        self.use_provider(self.fake.base_url, self.fake.api_key)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("crash")
    (base / "no-recordings").mkdir()
    # Fixed word style: every job's result is a function of its audio and options only.
    config = FakeConfig(latency_s=FAKE_LATENCY_S, requests_per_second=None, word_token_key="word",
                        word_confidence=True)
    with FakePyAIServer(config) as fake:
        stack = AirflowStack(
            home=base / "airflow",
            extra_env={
                # The scheduled run of the latest interval finds nothing; test runs name their own folders.
                "CALLMINE_SOURCE_URI": str(base / "no-recordings"),
                "CALLMINE_WAREHOUSE_URI": str(base / "scheduled-warehouse"),
                PAUSE_ENV: str(base / "pause" / "load.pid"),
            },
        )
        stack.start()
        try:
            env = Env(stack, fake, base)
            env.use_fake()
            stack.wait_dag(DAG_ID)
            stack.unpause(DAG_ID)
            yield env
        finally:
            stack.stop()


# -- recordings, runs, tables ------------------------------------------------------------


def small_day(folder: Path) -> Path:
    """Three stereo and three mono calls and a damaged upload, dated DAY: four batches of two."""
    day = folder / DAY.replace("-", "/")
    for i in range(3):
        write_wav(day / f"stereo-{i}.wav", seconds=6 + i, channels=2, seed=300 + i)
        write_wav(day / f"mono-{i}.wav", seconds=5 + i, channels=1, seed=310 + i)
    (day / "damaged.wav").write_bytes(b"RIFF\x00\x00not a wave file" * 40)
    return folder


SMALL_DAY_AUDIO = 6  # recordings sent to the provider (the damaged one never is)
SMALL_DAY_BATCHES = 4


@pytest.fixture(scope="module")
def small_source(env) -> Path:
    return small_day(env.base / "in-small")


@pytest.fixture(scope="module")
def reference(env, small_source) -> Path:
    """The clean run: the same recordings, nothing killed, into its own warehouse."""
    warehouse = env.base / "wh-clean"
    run_id = env.trigger(DAY, 0, small_source, warehouse, batch_size=2)
    assert env.stack.wait_run(DAG_ID, run_id, timeout=600) == "success", env.stack.logs_tail()
    statuses = query(warehouse, "SELECT status, count(*) FROM calls GROUP BY ALL ORDER BY 1")
    assert statuses == [("completed", SMALL_DAY_AUDIO), ("failed", 1)]  # something to compare with
    return warehouse


def table_rows(warehouse: Path) -> dict[str, list[tuple]]:
    """Every table's rows in key order, minus NOT_COMPARED; the warehouse's own path (subtitle URIs) masked."""
    root = str(warehouse)
    out = {}
    with connect(root) as con:
        for name, spec in SPECS.items():
            skip = NOT_COMPARED.get(name, ())
            exclude = f" EXCLUDE ({', '.join(skip)})" if skip else ""
            rows = con.execute(f"SELECT *{exclude} FROM {name} ORDER BY {', '.join(spec.key)}").fetchall()
            out[name] = [tuple(v.replace(root, "<warehouse>") if isinstance(v, str) else v for v in row)
                         for row in rows]
    return out


def query(warehouse: Path, sql: str) -> list[tuple]:
    with connect(str(warehouse)) as con:
        return con.execute(sql).fetchall()


def assert_keys_unique(warehouse: Path) -> None:
    for name, spec in SPECS.items():
        [(total, distinct)] = query(warehouse, f"SELECT count(*), count(DISTINCT ({', '.join(spec.key)})) FROM {name}")
        assert total == distinct, f"{name}: {total - distinct} duplicate row(s)"


def published_and_temp_files(warehouse: Path) -> tuple[list[str], list[str]]:
    files = [p for p in warehouse.rglob("*") if p.is_file() and "_staging" not in p.parts]
    # Schema files (call_month=0000-00) hold no rows: they are written before any load publishes.
    published = sorted(str(p.relative_to(warehouse)) for p in files
                       if p.suffix == ".parquet" and "call_month=0000-00" not in p.parts)
    temps = sorted(str(p.relative_to(warehouse)) for p in files if p.name.startswith(".") and p.suffix == ".tmp")
    return published, temps


def task_instances(stack: AirflowStack, run_id: str, task_id: str) -> list[dict[str, Any]]:
    return [ti for ti in stack.task_instances(DAG_ID, run_id) if ti["task_id"] == task_id]


def wait_until(condition, timeout: float, what: str, stack: AirflowStack, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not after {timeout:.0f}s\n{stack.logs_tail()}")


def failures_of(warehouse: Path) -> list[tuple]:
    return query(warehouse, "SELECT source_uri, error, retryable FROM calls WHERE status = 'failed' ORDER BY 1")


# -- processes -------------------------------------------------------------------------------


def kill_process_group(proc: subprocess.Popen) -> list[int]:
    """SIGKILL the component's whole process group; returns the pids that were in it."""
    group = [p for p in psutil.process_iter() if _pgid(p.pid) == proc.pid]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(group, timeout=30)
    assert not alive, f"still alive after SIGKILL of the group: {alive}"
    return [p.pid for p in group]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def restart_component(stack: AirflowStack, name: str) -> None:
    """Start one component again exactly as AirflowStack.start does (stack.stop() will end it)."""
    with open(stack.home / "logs" / f"{name}.out", "ab") as log:
        stack.processes[name] = subprocess.Popen(
            [airflow_executable(), name], env=stack.env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, cwd=stack.home,
        )


def kill_engine(engine: ServiceProcess) -> list[int]:
    """SIGKILL the engine's web process and every worker process it spawned (not its process group:
    a non-detached engine shares the test's group)."""
    parent = psutil.Process(engine.process.pid)
    tree = [parent, *parent.children(recursive=True)]
    for proc in tree:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    engine.process.wait(timeout=30)
    _, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, f"engine processes still alive after SIGKILL: {alive}"
    return [p.pid for p in tree]


def engine_jobs(data_dir: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{data_dir / 'engine.sqlite3'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT job_id, status, attempts, idempotency_key, error FROM jobs")]


# -- 1. the triggerer ------------------------------------------------------------------------


def test_triggerer_killed_while_batches_are_deferred_resumes_them_without_submitting_any_job_twice(
    env, small_source, reference
):
    stack, fake = env.stack, env.fake
    fake.reset()  # forget every job: each submit of this run must create its job, exactly once
    fake.configure(latency_s=30.0)  # the jobs are still running when the triggerer dies
    warehouse = env.base / "wh-triggerer-killed"
    try:
        run_id = env.trigger(DAY, 1, small_source, warehouse, batch_size=2)
        wait_until(lambda: sum(ti["state"] == "deferred" for ti in task_instances(stack, run_id, "wait"))
                   == SMALL_DAY_BATCHES, 300, "every batch's wait deferred", stack)
        in_flight = fake.stats()["by_status"]
        killed = kill_process_group(stack.processes["triggerer"])
        restart_component(stack, "triggerer")
    finally:
        fake.configure(latency_s=FAKE_LATENCY_S)
    assert in_flight["queued"] + in_flight["processing"] == SMALL_DAY_AUDIO, in_flight  # killed mid-wait
    assert len(killed) >= 2  # the triggerer and its trigger runner

    assert stack.wait_run(DAG_ID, run_id, timeout=600) == "success", stack.logs_tail()
    stats, counts = fake.stats(), fake.job_counts()
    assert stats["jobs_created"] == SMALL_DAY_AUDIO, stats
    assert sorted(counts["by_idempotency_key"].values()) == [1] * SMALL_DAY_AUDIO
    assert sorted(counts["by_audio"].values()) == [1] * SMALL_DAY_AUDIO
    assert table_rows(warehouse) == table_rows(reference)
    # Each completed call names the one job the fake created for it.
    job_ids = [j for (j,) in query(warehouse, "SELECT provider_job_id FROM calls WHERE status = 'completed'")]
    assert sorted(job_ids) == sorted(counts["jobs"])
    assert all(ti["state"] == "success" for ti in task_instances(stack, run_id, "wait"))


# -- 2. the load -----------------------------------------------------------------------------


def test_load_killed_before_publishing_keeps_the_previous_state_and_its_retry_loads_exactly_the_clean_rows(
    env, small_source, reference
):
    stack = env.stack
    warehouse = env.base / "wh-load-killed"
    pause = env.pause_file
    pause.parent.mkdir()  # arms the hook in replace_calls
    try:
        run_id = env.trigger(DAY, 2, small_source, warehouse, batch_size=2)
        pid = int(wait_until(lambda: pause.exists() and pause.read_text().strip(), 600,
                             "load paused before publishing", stack))
        scheduler = psutil.Process(stack.processes["scheduler"].pid)
        assert pid in {p.pid for p in scheduler.children(recursive=True)}, "the paused load is not a scheduler task"
        published, temps = published_and_temp_files(warehouse)
        assert published == [] and temps, (published, temps)  # every file written under a temp name
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
                   30, "the killed load gone", stack, interval=0.1)
    finally:
        shutil.rmtree(pause.parent, ignore_errors=True)  # disarmed: the retry publishes
    # The killed load published nothing: the partition is still in its previous state (empty).
    assert published_and_temp_files(warehouse)[0] == []

    assert stack.wait_run(DAG_ID, run_id, timeout=600) == "success", stack.logs_tail()
    [load] = task_instances(stack, run_id, "load")
    assert load["try_number"] == 2  # the killed try, then its retry
    assert table_rows(warehouse) == table_rows(reference)
    assert published_and_temp_files(warehouse)[1] == []  # the retry removed the dead try's temp files
    assert_keys_unique(warehouse)


# -- 3. the embedded engine ------------------------------------------------------------------


def engine_day(folder: Path) -> Path:
    day = folder / ENGINE_DAY.replace("-", "/")
    day.mkdir(parents=True)
    for sample in sorted(SAMPLES.glob("*.wav")):
        shutil.copy(sample, day / sample.name.split("_", 1)[1])  # the sample's own date dropped
    return folder


def test_engine_killed_mid_job_and_restarted_on_its_data_dir_finishes_every_call(env):
    stack = env.stack
    source = engine_day(env.base / "in-engine")
    recordings = len(list(source.rglob("*.wav")))
    data_dir = env.base / "engine"
    warehouse = env.base / "wh-engine"
    engine = start_engine(data_dir, "--workers", "1", api_key="crash-recovery-engine-key")
    # The same command line again: same port, same data dir, same key file.
    argv, port = list(engine.process.args), int(engine.base_url.rsplit(":", 1)[1])
    env.use_provider(engine.base_url, engine.api_key)
    try:
        run_id = env.trigger(ENGINE_DAY, 0, source, warehouse, batch_size=2)
        wait_until(lambda: engine_jobs(data_dir) and any(j["status"] == "processing" for j in engine_jobs(data_dir)),
                   300, "a job processing on the engine", stack, interval=0.2)
        kill_engine(engine)
        interrupted = [j["job_id"] for j in engine_jobs(data_dir) if j["status"] == "processing"]
        time.sleep(5)  # an outage: submits and polls meet a closed port
        engine = start_service("engine", argv, port, data_dir, "/healthz", timeout=60)
        state = stack.wait_run(DAG_ID, run_id, timeout=600)
    finally:
        engine.stop()
        env.use_fake()
    assert interrupted, "the engine was not killed mid-job"

    calls = query(warehouse, "SELECT source_uri, status, error FROM calls ORDER BY 1")
    assert len(calls) == recordings  # none missing
    assert all(status == "completed" or (status == "failed" and error) for _, status, error in calls), calls
    # The design (docs/operations.md; include/engine/jobs.py): an interrupted job goes back to the
    # queue and runs again, and the wait keeps polling the same job through the outage.
    assert state == "success", (failures_of(warehouse), stack.logs_tail())
    assert [s for _, s, _ in calls] == ["completed"] * recordings
    jobs = {j["job_id"]: j for j in engine_jobs(data_dir)}
    assert len(jobs) == recordings and len({j["idempotency_key"] for j in jobs.values()}) == recordings
    for job_id in interrupted:
        assert (jobs[job_id]["status"], jobs[job_id]["attempts"]) == ("completed", 2)
    assert_keys_unique(warehouse)


# -- 4. a provider failing one request in five -----------------------------------------------

BIG_RECORDINGS = 200
FAULTS = {"fault_rate_429": 0.06, "fault_rate_5xx": 0.06, "fault_rate_drop": 0.06, "fault_rate_slow": 0.02}


def test_200_recordings_against_a_provider_failing_one_request_in_five_all_complete_with_no_duplicate(env):
    stack, fake = env.stack, env.fake
    source = env.base / "in-big"
    day = source / BIG_DAY.replace("-", "/")
    for i in range(BIG_RECORDINGS):
        write_wav(day / f"call-{i:03d}.wav", seconds=2.0, channels=1 + i % 2, seed=1000 + i)
    warehouse = env.base / "wh-faulty-provider"
    fake.reset()
    # slow answers come after the hook's 30 s read timeout (callmine.hooks.pyai.PyAIHook)
    fake.configure(fault_seed=2026, fault_slow_s=35.0, fault_retry_after_s=1, **FAULTS)
    try:
        run_id = env.trigger(BIG_DAY, 0, source, warehouse, batch_size=50)
        state = stack.wait_run(DAG_ID, run_id, timeout=900)
    finally:
        stats, counts = fake.stats(), fake.job_counts()
        fake.reset()  # no fault for whatever runs next

    uris = {p.resolve().as_uri() for p in day.glob("*.wav")}
    calls = query(warehouse, "SELECT source_uri, status, error FROM calls")
    loaded = {uri for uri, _, _ in calls}
    [(rows, distinct)] = query(warehouse, "SELECT count(*), count(DISTINCT call_id) FROM calls")
    numbers = {
        "recordings": BIG_RECORDINGS,
        "provider_requests": stats["requests"],
        "faults_injected": stats["faults_injected"],
        "faults_by_route": counts["faults"]["by_route"],
        "completed": sum(s == "completed" for _, s, _ in calls),
        "failed_with_reason": sum(s == "failed" and bool(e) for _, s, e in calls),
        "failed_without_reason": sum(s == "failed" and not e for _, s, e in calls),
        "jobs_created": stats["jobs_created"],
        "idempotent_replays": stats["idempotent_replays"],
        "duplicate_jobs": stats["duplicate_jobs_by_key"] + stats["duplicate_jobs_by_audio"],
        "duplicate_rows": rows - distinct,
        "lost": len(uris - loaded),
    }
    print("faulty provider:", json.dumps(numbers, indent=1))
    assert len(uris) == BIG_RECORDINGS and numbers["lost"] == 0 and loaded == uris, numbers
    assert state == "success", (numbers, failures_of(warehouse)[:10], stack.logs_tail())
    assert numbers["completed"] == BIG_RECORDINGS, numbers
    assert numbers["duplicate_jobs"] == 0 and numbers["duplicate_rows"] == 0, numbers
    assert numbers["jobs_created"] == BIG_RECORDINGS, numbers
    assert sorted(counts["by_idempotency_key"].values()) == [1] * BIG_RECORDINGS
    assert sorted(counts["by_audio"].values()) == [1] * BIG_RECORDINGS
    assert all(n > 0 for n in numbers["faults_injected"].values()), numbers  # every kind happened
    assert sum(numbers["faults_injected"].values()) >= 0.15 * numbers["provider_requests"], numbers
    assert_keys_unique(warehouse)
