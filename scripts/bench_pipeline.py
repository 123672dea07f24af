"""Pipeline benchmark: N recordings through a real Airflow deployment against the fake service.

Two modes:

- ``--executor local`` (default): compares the batched layout (one mapped task + one
  trigger per batch) with the naive layout (one mapped task + one trigger per recording)
  on the LocalExecutor/SQLite deployment, with a fixed provider latency.
- ``--executor celery``: the production-shaped deployment (PostgreSQL, Redis,
  CeleryExecutor with two workers; tests/integration/celery_deployment.py), batched, for
  each size of ``--recordings`` (e.g. ``1000,10000``) in one invocation, each on a fresh
  deployment: wall time from trigger to success, wall over the latency, the per-recording
  overhead ((wall - latency) / recordings), and the CPU seconds of the scheduler, the
  triggerer and the Celery workers (each process with its children).

    .venv/bin/python scripts/bench_pipeline.py --recordings 1000 --latency 20
    .venv/bin/python scripts/bench_pipeline.py --recordings 200 --latency 20 --layouts batched
    .venv/bin/python scripts/bench_pipeline.py --executor celery --recordings 1000,10000 --latency 60 --batch-size 100

Numbers only; nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from pathlib import Path

import psutil

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "plugins")]

from callmine.local.stack import ROOT, AirflowStack  # noqa: E402
from scripts.services import start_fake_pyai  # noqa: E402
from tests.audio import write_wav  # noqa: E402

DAG_ID = "call_archive_mining"
DAY = "2026-11-20"


def cpu_seconds(pid: int) -> float:
    """CPU of a process and its children (the triggerer runs triggers in a child; the
    LocalExecutor's workers, which run the tasks, are the scheduler's children)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def make_recordings(folder: Path, count: int) -> None:
    day = folder / DAY.replace("-", "/")
    if day.exists() and len(list(day.iterdir())) == count:
        return
    shutil.rmtree(folder, ignore_errors=True)
    for i in range(count):
        write_wav(day / f"call-{i:05d}.wav", seconds=2.0, channels=1 + i % 2, seed=i)


def run_celery(count: int, batch_size: int, work: Path, fake_url: str, latency: float, concurrency: int) -> dict:
    """One day of ``count`` recordings through a fresh Celery deployment."""
    from tests.integration.celery_deployment import celery_deployment

    base = work / f"celery-{count}"
    shutil.rmtree(base, ignore_errors=True)
    recordings = work / f"recordings-{count}"
    make_recordings(recordings, count)
    extra_env = {
        "CALLMINE_SOURCE_URI": str(recordings),
        "CALLMINE_WAREHOUSE_URI": str(base / "warehouse"),
        "CALLMINE_BATCH_SIZE": str(batch_size),
        "AIRFLOW_CONN_PYAI_DEFAULT": json.dumps({"conn_type": "http", "host": fake_url}),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }
    with celery_deployment(base, extra_env, concurrency=concurrency, parallelism=2 * concurrency + 8,
                           timeout=300) as deployment:
        stack = deployment.stack
        stack.wait_dag(DAG_ID)
        stack.unpause(DAG_ID)
        time.sleep(5)  # let the catch-up run of "yesterday" (no recordings) clear out of the way
        groups = {
            "scheduler": ["scheduler"], "triggerer": ["triggerer"],
            "workers": [name for name in stack.processes if name.startswith("celery-")],
        }

        def cpu() -> dict[str, float]:
            return {g: sum(cpu_seconds(stack.processes[n].pid) for n in names) for g, names in groups.items()}

        cpu0 = cpu()
        started = time.monotonic()
        run_id = stack.trigger(DAG_ID, f"{DAY}T00:00:00Z")
        state = stack.wait_run(DAG_ID, run_id, timeout=7200)
        wall = time.monotonic() - started
        cpu1 = cpu()
        tis = stack.task_instances(DAG_ID, run_id)
        from callmine.warehouse import connect

        with connect(str(base / "warehouse")) as con:
            [(completed,)] = con.execute("SELECT count(*) FROM calls WHERE status = 'completed'").fetchall()
    return {
        "recordings": count, "batch_size": batch_size, "state": state, "completed": completed,
        "wall_s": round(wall, 1), "over_latency_s": round(wall - latency, 1),
        "overhead_ms_per_recording": round((wall - latency) / count * 1000, 1),
        "task_instances": len(tis),
        **{f"{g}_cpu_s": round(cpu1[g] - cpu0[g], 1) for g in groups},
    }


def celery_main(args: argparse.Namespace) -> int:
    sizes = [int(n) for n in str(args.recordings).split(",")]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    fake = start_fake_pyai(args.work, "--latency", str(args.latency), "--rps", "off")
    results = []
    try:
        for count in sizes:
            print(f"celery: {count} recordings, batch size {args.batch_size}, latency {args.latency:.0f} s ...", flush=True)
            results.append(run_celery(count, args.batch_size, args.work, fake.base_url, args.latency,
                                      args.worker_concurrency))
            print(json.dumps(results[-1]), flush=True)
    finally:
        fake.stop()
    print(f"\nCeleryExecutor, 2 workers x {args.worker_concurrency} slots, provider latency {args.latency:.0f} s, "
          f"batch size {args.batch_size}")
    print(f"{'recordings':>10} {'tasks':>6} {'wall s':>8} {'over latency s':>15} {'ms/recording':>13} "
          f"{'scheduler cpu s':>16} {'triggerer cpu s':>16} {'workers cpu s':>14} state")
    for r in results:
        print(f"{r['recordings']:>10} {r['task_instances']:>6} {r['wall_s']:>8} {r['over_latency_s']:>15} "
              f"{r['overhead_ms_per_recording']:>13} {r['scheduler_cpu_s']:>16} {r['triggerer_cpu_s']:>16} "
              f"{r['workers_cpu_s']:>14} {r['state']} ({r['completed']} completed)")
    (args.work / "results-celery.json").write_text(json.dumps(results, indent=2))
    return 0


def run_layout(name: str, batch_size: int, work: Path, recordings: Path, fake_url: str, parallelism: int) -> dict:
    home = work / f"airflow-{name}"
    warehouse = work / f"warehouse-{name}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(warehouse, ignore_errors=True)
    stack = AirflowStack(
        home=home,
        parallelism=parallelism,
        extra_env={
            "CALLMINE_SOURCE_URI": str(recordings),
            "CALLMINE_WAREHOUSE_URI": str(warehouse),
            "CALLMINE_BATCH_SIZE": str(batch_size),
            "AIRFLOW_CONN_PYAI_DEFAULT": json.dumps({"conn_type": "http", "host": fake_url}),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(16, parallelism)),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        },
    )
    with stack:
        stack.wait_dag(DAG_ID)
        stack.unpause(DAG_ID)
        time.sleep(5)  # let the catch-up run of "yesterday" (no recordings) clear out of the way
        trig_pid, sched_pid = stack.processes["triggerer"].pid, stack.processes["scheduler"].pid
        cpu0 = cpu_seconds(trig_pid), cpu_seconds(sched_pid)
        started = time.monotonic()
        run_id = stack.trigger(DAG_ID, f"{DAY}T00:00:00Z")
        state = stack.wait_run(DAG_ID, run_id, timeout=3600)
        wall = time.monotonic() - started
        cpu1 = cpu_seconds(trig_pid), cpu_seconds(sched_pid)
        tis = stack.task_instances(DAG_ID, run_id)
        tries = sum(max(0, ti.get("try_number", 1) - 1) for ti in tis if ti["task_id"] in ("submit", "wait", "stage"))
    return {
        "layout": name,
        "batch_size": batch_size,
        "state": state,
        "wall_s": round(wall, 1),
        "triggerer_cpu_s": round(cpu1[0] - cpu0[0], 1),
        "scheduler_and_workers_cpu_s": round(cpu1[1] - cpu0[1], 1),
        "transcribe_tasks": sum(1 for ti in tis if ti["task_id"] in ("submit", "wait", "stage")),
        "transcribe_retries": tries,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executor", choices=("local", "celery"), default="local")
    parser.add_argument("--recordings", default="1000", help="count; with --executor celery, comma-separated sizes")
    parser.add_argument("--latency", type=float, default=20.0, help="fixed provider job latency (s)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--layouts", default="batched,naive")
    parser.add_argument("--work", type=Path, default=ROOT / ".bench" / "pipeline")
    parser.add_argument("--worker-concurrency", type=int, default=4, help="task slots per Celery worker")
    args = parser.parse_args()
    if args.executor == "celery":
        return celery_main(args)
    args.recordings = int(args.recordings)

    recordings = args.work / "recordings"
    make_recordings(recordings, args.recordings)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a plain `kill` still stops everything
    fake = start_fake_pyai(args.work, "--latency", str(args.latency), "--rps", "off")
    results = []
    try:
        for layout in args.layouts.split(","):
            size = args.batch_size if layout == "batched" else 1
            print(f"running {layout} layout (batch size {size}) over {args.recordings} recordings ...", flush=True)
            results.append(run_layout(layout, size, args.work, recordings, fake.base_url, args.parallelism))
            print(json.dumps(results[-1]), flush=True)
    finally:
        fake.stop()

    print(f"\n{args.recordings} recordings, provider latency {args.latency:.0f} s, parallelism {args.parallelism}")
    print(f"{'layout':<9} {'tasks':>6} {'wall s':>8} {'over latency s':>15} {'triggerer cpu s':>16} {'sched+workers cpu s':>20} {'retries':>8} state")
    for r in results:
        print(f"{r['layout']:<9} {r['transcribe_tasks']:>6} {r['wall_s']:>8} {r['wall_s'] - args.latency:>15.1f} "
              f"{r['triggerer_cpu_s']:>16} {r['scheduler_and_workers_cpu_s']:>20} {r['transcribe_retries']:>8} {r['state']}")
    if len(results) == 2:
        b, n = results
        print(f"naive / batched: wall x{n['wall_s'] / b['wall_s']:.1f}, triggerer cpu x{n['triggerer_cpu_s'] / max(b['triggerer_cpu_s'], 0.1):.1f}")
    (args.work / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
