"""The demo: the shipped sample calls through the real pipeline on a real Airflow, then SQL.

Starts a speech service (for now the test fake of the PyAI jobs API: it fabricates
deterministic transcripts; the embedded engine replaces it when it lands), a local
Airflow 3 deployment (api-server, scheduler, dag-processor, triggerer), runs
``call_archive_mining`` for the samples' call date, and prints analyst queries'
results from DuckDB.

    bash scripts/demo.sh        # what the README says; installs, then runs this
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "plugins")]

from callmine.cli import main as callmine_cli  # noqa: E402
from scripts.airflow_stack import ROOT, AirflowStack  # noqa: E402
from scripts.services import start_fake_pyai  # noqa: E402

DAG_ID = "call_archive_mining"
DAY = "2026-11-20"
SAMPLES = ROOT / "include" / "samples" / "calls"
QUERIES = ["daily_volume.sql", "talk_ratio_by_role_weekly.sql", "keyword_trend_daily.sql",
           "longest_monologues.sql", "failed_calls.sql"]


def prepare_recordings(folder: Path) -> int:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    copied = 0
    for wav in sorted(SAMPLES.glob(f"{DAY}*.wav")):
        shutil.copy(wav, folder / wav.name)
        copied += 1
    # One damaged upload, to show that a bad recording is recorded as failed and the run goes on.
    (folder / f"{DAY}_damaged-upload.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 64)
    (folder / "README.txt").write_text("not audio: ignored by discovery\n")
    return copied


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--keep-running", action="store_true", help="leave Airflow up to explore the UI")
    args = parser.parse_args()

    recordings, warehouse = args.work / "recordings", args.work / "warehouse"
    count = prepare_recordings(recordings)
    if count == 0:
        raise SystemExit(f"no sample calls under {SAMPLES}")
    shutil.rmtree(warehouse, ignore_errors=True)
    shutil.rmtree(args.work / "airflow", ignore_errors=True)
    print(f"[demo] {count} sample calls (+1 damaged file) in {recordings}")

    speech = start_fake_pyai(args.work, "--latency", "3")
    print(f"[demo] speech service (PyAI jobs dialect) at {speech.base_url}")
    stack = AirflowStack(
        home=args.work / "airflow",
        extra_env={
            "CALLMINE_SOURCE_URI": str(recordings),
            "CALLMINE_WAREHOUSE_URI": str(warehouse),
            "CALLMINE_BATCH_SIZE": "2",
            "AIRFLOW_CONN_PYAI_DEFAULT": json.dumps({"conn_type": "http", "host": speech.base_url}),
        },
    )
    try:
        started = time.monotonic()
        print("[demo] starting Airflow (api-server, scheduler, dag-processor, triggerer) ...", flush=True)
        stack.start()
        print(f"[demo] Airflow healthy at {stack.base_url} after {time.monotonic() - started:.0f}s")
        stack.wait_dag(DAG_ID)
        stack.unpause(DAG_ID)
        run_id = stack.trigger(DAG_ID, f"{DAY}T00:00:00Z")
        print(f"[demo] triggered {DAG_ID} for call date {DAY} ({run_id}); waiting ...", flush=True)
        state = stack.wait_run(DAG_ID, run_id, timeout=900)
        for ti in sorted(stack.task_instances(DAG_ID, run_id), key=lambda t: (t["task_id"], t["map_index"])):
            label = ti.get("rendered_map_index") or ""
            print(f"    {ti['task_id']:<11} {label:<16} {ti['state']}")
        print(f"[demo] run finished: {state} in {time.monotonic() - started:.0f}s")
        if state != "success":
            print(stack.logs_tail())
            return 1
        for query in QUERIES:
            print(f"\n[demo] include/sql/{query}")
            callmine_cli(["sql", "--warehouse", str(warehouse), "-f", str(ROOT / "include" / "sql" / query)])
        print(f"\n[demo] explore: bin/callmine sql --warehouse {warehouse} \"SELECT * FROM speaker_metrics\"")
        if args.keep_running:
            print(f"[demo] Airflow UI: {stack.base_url} (Ctrl-C to stop)")
            while True:
                time.sleep(3600)
        return 0
    finally:
        stack.stop()
        speech.stop()


if __name__ == "__main__":
    sys.exit(main())
