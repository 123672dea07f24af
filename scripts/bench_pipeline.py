"""Pipeline benchmark: N recordings through a real Airflow deployment against the fake service.

Compares the batched layout (one mapped task + one trigger per batch) with the naive
layout (one mapped task + one trigger per recording) in the same session, with a fixed
provider latency. Prints wall time from trigger to success, and the CPU seconds the
triggerer (and, for context, the scheduler with its task-running workers) used during the run.

    .venv/bin/python scripts/bench_pipeline.py --recordings 1000 --latency 20
    .venv/bin/python scripts/bench_pipeline.py --recordings 200 --latency 20 --layouts batched
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
    parser.add_argument("--recordings", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=20.0, help="fixed provider job latency (s)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--layouts", default="batched,naive")
    parser.add_argument("--work", type=Path, default=ROOT / ".bench" / "pipeline")
    args = parser.parse_args()

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
