"""The demo: the shipped sample calls through the real pipeline on a real Airflow, then SQL.

A thin user of ``callmine run``: the sample calls (plus one damaged upload) go into
``data/demo/recordings``, ``callmine run`` backfills their call dates on a local Airflow
with the embedded speech engine (offline, no key) into the default warehouse
``data/warehouse``, and the analyst queries of ``include/sql/`` print their results.

    bash scripts/demo.sh                 # what the README says; installs, then runs this
    bash scripts/demo.sh --keep-running  # leaves the deployment up (callmine up); stop with bin/callmine down
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
from datetime import date
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "plugins")]

from callmine.cli import main as callmine  # noqa: E402
from callmine.config import PROJECT_ROOT as ROOT  # noqa: E402
from callmine.discovery import call_date_of  # noqa: E402

SAMPLES = ROOT / "include" / "samples" / "calls"
RECORDINGS = ROOT / "data" / "demo" / "recordings"
QUERIES = ["daily_volume.sql", "call_insights.sql", "talk_ratio_by_role_weekly.sql", "keyword_trend_daily.sql",
           "longest_monologues.sql", "failed_calls.sql"]
DAMAGED = "damaged-upload.wav"


def prepare_recordings(folder: Path) -> list[date]:
    """Copy the samples that are not there yet (nothing is deleted); returns their call dates."""
    folder.mkdir(parents=True, exist_ok=True)
    days = set()
    for wav in sorted(SAMPLES.glob("*.wav")):
        if not (folder / wav.name).exists():
            shutil.copy(wav, folder / wav.name)
        days.add(call_date_of(wav.name, None))
    # One damaged upload, to show that a bad recording is recorded as failed and the run goes on.
    damaged = folder / f"{min(days)}_{DAMAGED}"
    if not damaged.exists():
        damaged.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 64)
    return sorted(days)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep-running", action="store_true", help="leave Airflow up to explore the UI")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a plain `kill` still stops everything

    days = prepare_recordings(RECORDINGS)
    print(f"[demo] sample calls of {len(days)} days ({days[0]} .. {days[-1]}) + 1 damaged file "
          f"in {RECORDINGS.relative_to(ROOT)}/")
    if args.keep_running and callmine(["up"]) != 0:
        return 1
    run = ["run", "--source", str(RECORDINGS.relative_to(ROOT)), "--from", days[0].isoformat(),
           "--to", days[-1].isoformat(), "--batch-size", "2"]
    print(f"[demo] bin/callmine {' '.join(run)}", flush=True)
    status = callmine(run)
    for query in QUERIES:
        print(f"\n[demo] bin/callmine sql -f include/sql/{query}", flush=True)
        callmine(["sql", "-f", str(ROOT / "include" / "sql" / query)])
    print('\n[demo] explore: bin/callmine sql "SELECT * FROM speaker_metrics"')
    if args.keep_running:
        print("[demo] the deployment keeps running; stop it with: bin/callmine down")
    return status


if __name__ == "__main__":
    sys.exit(main())
