"""One day of ``call_archive_mining`` through the production-shaped deployment, on an object store.

PostgreSQL metadata DB, Redis broker, CeleryExecutor with two workers, api-server,
scheduler, dag-processor and triggerer, all real processes (tests/integration/
celery_deployment.py); the recordings and the warehouse on a local S3 endpoint (moto's
server mode), reached through the Airflow connection ``aws_default``; the fake PyAI
service and the sample archive of test_airflow_pipeline. Checked: the run succeeds, both
workers ran tasks (the task instances' hostname in the metadata DB, cross-checked with
each worker's own log), every batch's wait went through the triggerer, the warehouse
holds exactly one row per recording (read with ``callmine sql --warehouse s3://...``),
and a re-run of the day adds nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from callmine.warehouse import connect
from tests.fake_pyai import FakeConfig, FakePyAIServer
from tests.integration.celery_deployment import WORKERS, CeleryDeployment, celery_deployment
from tests.integration.test_airflow_pipeline import DAG_ID, DAY, TABLE_KEYS, clear_and_wait, make_archive, snapshot
from tests.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, create_bucket, s3_env, start_s3

pytestmark = pytest.mark.integration

BATCHES = [f"{DAY}/b000", f"{DAY}/b001", f"{DAY}/b002"]  # 6 recordings, batch size 2
BUCKET = "callmine"
WAREHOUSE = f"s3://{BUCKET}/warehouse"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("celery")
    make_archive(base / "recordings")
    s3 = start_s3(base / "moto")
    try:
        create_bucket(s3.base_url, BUCKET)
        # This test process reads the store with explicit options, `callmine sql` with the
        # standard AWS environment, the deployment with the Airflow connection aws_default.
        options = {"key": ACCESS_KEY_ID, "secret": SECRET_ACCESS_KEY, "use_listings_cache": False,
                   "client_kwargs": {"endpoint_url": s3.base_url, "region_name": REGION}}
        from callmine.warehouse.storage import Storage

        Storage(f"s3://{BUCKET}", options).fs.put(str(base / "recordings"), f"{BUCKET}/recordings", recursive=True)
        config = FakeConfig(latency_s=3.0, allow_http_audio=True, requests_per_second=200, burst=400)
        with FakePyAIServer(config) as fake:
            conn = {"conn_type": "http", "host": fake.base_url, "password": fake.api_key}
            aws = {"conn_type": "aws", "login": ACCESS_KEY_ID, "password": SECRET_ACCESS_KEY,
                   "extra": {"endpoint_url": s3.base_url, "region_name": REGION}}
            extra_env = {
                "CALLMINE_SOURCE_URI": f"s3://{BUCKET}/recordings",
                "CALLMINE_WAREHOUSE_URI": WAREHOUSE,
                "CALLMINE_BATCH_SIZE": "2",
                "AIRFLOW_CONN_PYAI_DEFAULT": json.dumps(conn),
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws),
            }
            with celery_deployment(base, extra_env) as deployment:
                deployment.stack.wait_dag(DAG_ID)
                deployment.stack.unpause(DAG_ID)
                yield {"deployment": deployment, "fake": fake, "warehouse": WAREHOUSE, "s3_options": options,
                       "s3_env": s3_env(s3.base_url), "recordings": base / "recordings" / DAY.replace("-", "/")}
    finally:
        s3.stop()


@pytest.fixture(scope="module")
def day_run(env):
    stack = env["deployment"].stack
    run_id = stack.trigger(DAG_ID, f"{DAY}T00:00:00Z")
    state = stack.wait_run(DAG_ID, run_id, timeout=300)
    assert state == "success", stack.logs_tail()
    return run_id


def query(env, sql):
    with connect(env["warehouse"], env["s3_options"]) as con:
        return con.execute(sql).fetchall()


def task_instances(deployment: CeleryDeployment, run_id: str) -> list[tuple]:
    """(task_id, map_index, state, hostname, queue, external_executor_id) of the run, from PostgreSQL."""
    return deployment.sql(
        "SELECT task_id, map_index, state, hostname, queue, external_executor_id FROM task_instance "
        "WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index", (DAG_ID, run_id))


def test_the_deployment_is_celery_on_postgresql_and_redis(env):
    deployment: CeleryDeployment = env["deployment"]
    stack = deployment.stack
    assert stack.env()["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert stack.env()["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert stack.env()["AIRFLOW__CELERY__BROKER_URL"] == deployment.redis.url
    health = stack.api("GET", "/monitor/health")
    assert all(health[c]["status"] == "healthy" for c in ("metadatabase", "scheduler", "triggerer", "dag_processor"))
    assert {node.split("@")[0] for node in stack.worker_nodes()} == set(WORKERS)
    # the metadata DB is the PostgreSQL server's (migrated, the pools of include/pools.json imported)
    assert ("callmine_pyai",) in deployment.sql("SELECT pool FROM slot_pool")


def test_the_day_succeeds_with_one_row_per_recording(env, day_run):
    recordings = sorted(p.name for p in env["recordings"].iterdir() if p.suffix == ".wav")
    assert len(recordings) == 6
    rows = query(env, f"SELECT status, count(*) FROM calls WHERE call_date = DATE '{DAY}' GROUP BY ALL ORDER BY 1")
    assert rows == [("completed", 5), ("failed", 1)]  # corrupt.wav is recorded failed, not lost
    names = query(env, f"SELECT source_uri FROM calls WHERE call_date = DATE '{DAY}'")
    assert all(uri.startswith(f"s3://{BUCKET}/recordings/2026/11/20/") for (uri,) in names), names
    assert sorted(uri.rpartition("/")[2] for (uri,) in names) == recordings
    for table, key in TABLE_KEYS.items():
        [(total, distinct)] = query(env, f"SELECT count(*), count(DISTINCT ({key})) FROM {table}")
        assert total == distinct, table


def test_callmine_sql_reads_the_s3_warehouse(env, day_run):
    answer = subprocess.run(
        [str(REPO / "bin" / "callmine"), "sql", "--warehouse", WAREHOUSE,
         f"SELECT status, count(*) AS calls FROM calls WHERE call_date = DATE '{DAY}' GROUP BY ALL ORDER BY 1"],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env["s3_env"]})
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.split("\n")[2:4] == ["completed |     5", "failed    |     1"], answer.stdout
    assert SECRET_ACCESS_KEY not in answer.stdout + answer.stderr


def test_tasks_ran_on_both_celery_workers(env, day_run):
    deployment: CeleryDeployment = env["deployment"]
    tis = task_instances(deployment, day_run)
    assert len(tis) == 2 + 4 * len(BATCHES) + 1  # discover, 4 mapped steps per batch, load, report
    assert {state for _, _, state, *_ in tis} == {"success"}
    assert {queue for *_, queue, _ in tis} == {"default"}
    # Every task instance ran on a worker (none under the scheduler), and both workers took some.
    by_worker = Counter(hostname for _, _, _, hostname, _, _ in tis)
    assert set(by_worker) == set(WORKERS), by_worker
    # Cross-check with the workers themselves: the Celery task id of each task instance
    # (external_executor_id) is in the log of the worker its hostname names, and only there.
    logs = {worker: deployment.worker_log(worker) for worker in WORKERS}
    for task_id, map_index, _, hostname, _, celery_id in tis:
        assert celery_id, (task_id, map_index)
        assert [w for w in WORKERS if celery_id in logs[w]] == [hostname], (task_id, map_index, hostname)


def test_every_wait_was_deferred_to_the_triggerer(env, day_run):
    deployment: CeleryDeployment = env["deployment"]
    stack = deployment.stack
    waits = [ti for ti in stack.task_instances(DAG_ID, day_run) if ti["task_id"] == "wait"]
    assert sorted(ti["rendered_map_index"] for ti in waits) == BATCHES
    assert {ti["operator"] for ti in waits} == {"TranscriptionJobsSensor"}
    triggerer_jobs = {job_id for (job_id,) in deployment.sql("SELECT id FROM job WHERE job_type = 'TriggererJob'")}
    assert triggerer_jobs
    for ti in waits:
        # The wait deferred on a worker and resumed on a worker ... (its last try: Airflow 3.3.2
        # sometimes fails a task whose trigger fires fast, apache/airflow#71580; the retry
        # defers again, so the last try shows the whole round trip)
        assert ti["hostname"] in WORKERS, ti
        attempt = f"attempt={ti['try_number']}.log"
        folder = (stack.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={day_run}" / "task_id=wait"
                  / f"map_index={ti['map_index']}")
        assert "Pausing task as DEFERRED" in (folder / attempt).read_text()
        # ... while its trigger ran in the triggerer: the triggerer writes the trigger's log
        # beside the task's, named after its own job id (a TriggererJob of the metadata DB).
        [trigger_log] = folder.glob(f"{attempt}.trigger.*.log")
        assert int(trigger_log.name.split(".")[-2]) in triggerer_jobs, trigger_log.name
        events = [json.loads(line)["event"] for line in trigger_log.read_text().splitlines() if line.strip()]
        assert "Trigger fired event" in events and "trigger completed" in events, events


def test_clearing_and_rerunning_the_run_changes_no_row_and_creates_no_job(env, day_run):
    deployment: CeleryDeployment = env["deployment"]
    stack, fake = deployment.stack, env["fake"]
    before, jobs_before = snapshot(env), fake.stats()["jobs_created"]
    clear_and_wait(stack, day_run, timeout=300)
    assert snapshot(env) == before
    assert fake.stats()["jobs_created"] == jobs_before


def test_another_run_of_the_day_adds_no_duplicate(env, day_run):
    """A new run of a loaded day: completed calls are not transcribed again, nothing is doubled;
    only the failed call is attempted again (and still fails), in place."""
    stack, fake = env["deployment"].stack, env["fake"]
    before, jobs_before = snapshot(env), fake.stats()["jobs_created"]
    rerun = stack.trigger(DAG_ID, f"{DAY}T00:00:01Z")
    assert stack.wait_run(DAG_ID, rerun, timeout=300) == "success", stack.logs_tail()
    assert fake.stats()["jobs_created"] == jobs_before
    after = snapshot(env)
    for table, key in TABLE_KEYS.items():
        [(total, distinct)] = query(env, f"SELECT count(*), count(DISTINCT ({key})) FROM {table}")
        assert total == distinct, table
        if table != "calls":
            assert after[table] == before[table], table
    rows = query(env, f"SELECT status, run_id, count(*) FROM calls WHERE call_date = DATE '{DAY}' GROUP BY ALL ORDER BY 1")
    assert rows == [("completed", day_run, 5), ("failed", rerun, 1)]
