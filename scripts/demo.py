"""The demo: the shipped sample calls through the real pipeline on a real Airflow, then SQL.

Starts callmine's embedded speech engine (offline transcription and diarization, no
key, no network), a local Airflow 3 deployment (api-server, scheduler, dag-processor,
triggerer) with no ``pyai_default`` connection (so the pipeline uses the engine), runs
``call_archive_mining`` as a backfill over the samples' call dates, and prints analyst queries'
results from DuckDB.

    bash scripts/demo.sh        # what the README says; installs, then runs this
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from datetime import date
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "plugins")]

from callmine.cli import main as callmine_cli  # noqa: E402
from callmine.discovery import call_date_of  # noqa: E402
from scripts.airflow_stack import ROOT, AirflowStack  # noqa: E402
from scripts.services import start_engine  # noqa: E402

DAG_ID = "call_archive_mining"
SAMPLES = ROOT / "include" / "samples" / "calls"
QUERIES = ["daily_volume.sql", "talk_ratio_by_role_weekly.sql", "keyword_trend_daily.sql",
           "longest_monologues.sql", "failed_calls.sql"]


def prepare_recordings(folder: Path) -> list[date]:
    """Copy the samples; returns their call dates (from the dates in their file names)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    days = set()
    for wav in sorted(SAMPLES.glob("*.wav")):
        shutil.copy(wav, folder / wav.name)
        days.add(call_date_of(wav.name, None))
    first = min(days)
    # One damaged upload, to show that a bad recording is recorded as failed and the run goes on.
    (folder / f"{first}_damaged-upload.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 64)
    (folder / "README.txt").write_text("not audio: ignored by discovery\n")
    return sorted(days)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--keep-running", action="store_true", help="leave Airflow up to explore the UI")
    args = parser.parse_args()

    recordings, warehouse = args.work / "recordings", args.work / "warehouse"
    days = prepare_recordings(recordings)
    if not days:
        raise SystemExit(f"no sample calls under {SAMPLES}")
    shutil.rmtree(warehouse, ignore_errors=True)
    shutil.rmtree(args.work / "airflow", ignore_errors=True)
    print(f"[demo] sample calls of {len(days)} days ({days[0]} .. {days[-1]}) + 1 damaged file in {recordings}")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a plain `kill` still stops everything
    print("[demo] starting the embedded speech engine (loads the tiny.en model) ...", flush=True)
    speech = start_engine(args.work / "engine")
    print(f"[demo] speech engine (PyAI jobs dialect) at {speech.base_url}")
    stack = AirflowStack(
        home=args.work / "airflow",
        extra_env={
            "CALLMINE_SOURCE_URI": str(recordings),
            "CALLMINE_WAREHOUSE_URI": str(warehouse),
            "CALLMINE_BATCH_SIZE": "2",
            # No pyai_default connection: the pipeline's default is the embedded engine.
            "CALLMINE_ENGINE_URL": speech.base_url,
        },
    )
    try:
        started = time.monotonic()
        print("[demo] starting Airflow (api-server, scheduler, dag-processor, triggerer) ...", flush=True)
        stack.start()
        print(f"[demo] Airflow healthy at {stack.base_url} after {time.monotonic() - started:.0f}s")
        stack.wait_dag(DAG_ID)
        stack.unpause(DAG_ID)
        print(f"[demo] airflow backfill create --dag-id {DAG_ID} --from-date {days[0]} --to-date {days[-1]}", flush=True)
        runs = stack.backfill(DAG_ID, days[0].isoformat(), days[-1].isoformat())
        for run in runs:
            tis = stack.task_instances(DAG_ID, run["dag_run_id"])
            batches = [ti for ti in tis if ti["task_id"] == "transcribe" and ti["state"] == "success"]
            print(f"    call date {run['logical_date'][:10]}: {run['state']:<8} ({len(batches)} transcribe batch(es))")
        print(f"[demo] backfill finished in {time.monotonic() - started:.0f}s")
        if any(run["state"] != "success" for run in runs):
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
