"""Discovery benchmark: finding one day's recordings in a large archive, dated layout vs full walk.

Usage::

    PYTHONPATH=plugins:. .venv/bin/python scripts/bench_discovery.py --files 1000000
    PYTHONPATH=plugins:. .venv/bin/python scripts/bench_discovery.py --files 1000000 --workdir /var/tmp/bench
    PYTHONPATH=plugins:. .venv/bin/python scripts/bench_discovery.py --files 1000000 --lookback 3

The archive: ``--files`` empty ``.wav`` files spread evenly over ``--days`` consecutive
days ending on the timed day (1,000,000 over 365 days: about 2,740 a day), built twice
with the same file names (``call-YYYY-MM-DD-NNNNNNN.wav``) on local storage:

- ``dated/YYYY/MM/DD/<name>``: the layout discovery lists by day folder;
- ``flat/<name>``: no year folder at the top, so discovery walks the whole tree (the
  call date comes from the name).

Timed, interleaved ``--repeats`` times (after one untimed run of the first: imports), each a
``callmine.discovery.find_recordings_of_dates`` call for the last day (plus
``--lookback`` days before it, in the same pass, as a scheduled run asks):

- ``dated, day folders``: the dated archive, listing only the wanted ``YYYY/MM/DD/``
  folders (and the layout's year and month folders);
- ``dated, full walk``: the same archive with ``full_walk=True`` (what discovery did for
  every layout before; the old ``plan_day`` did it once per day, i.e. ``1 + lookback``
  times);
- ``flat, full walk``: the flat archive (the fallback for flat layouts).

What is timed is the LISTING phase with its per-file classification (audio extension and
call date of every file listed; URI and call id of the wanted days' files): ``probe=False``. The probe opens each of the day's recordings; it
is the same files, so the same cost, in every variant, and the files here are empty (the
probe would call them "recording is empty" without reading them), so timing it would add
a constant that says nothing about listing. Every variant must find the same number of
recordings (checked); times are printed, never asserted.

Where the archive lives: without ``--workdir``, in a temporary folder removed at the end,
on ``/dev/shm`` (tmpfs) when it has the inodes for it, else in the system temp folder.
Creating files is what costs: about 5-8 µs a file on tmpfs, but 25-300 µs on this
project's VM disk (ext4 with ``discard``, shared I/O), i.e. minutes for 2 x 1,000,000
files. The timed listing reads directory entries and inodes from memory either way once
they are cached (building the archive caches them), so tmpfs measures the same listing
work as a warm local disk; a cold disk or an object store (one request per 1,000 keys)
only widens the gap. (A reused archive's first full walk may read from a cold disk: the
median absorbs one slow repeat.) With ``--workdir`` the archive is kept there and reused by later runs
with the same ``--files``/``--days`` (say ``--workdir /var/tmp/x`` to time a real disk).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "plugins", ROOT):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from callmine.discovery import Discovery, find_recordings_of_dates  # noqa: E402

LAST_DAY = date(2026, 11, 20)


def say(*parts: object) -> None:
    print(*parts, flush=True)  # progress shows as it happens when the output goes to a file


@dataclass
class Variant:
    name: str
    run: Callable[[], Discovery]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    found: int = 0
    files_listed: int = 0


def archive_days(files: int, days: int) -> list[tuple[date, int]]:
    """(day, number of files) for each day, oldest first; the remainder goes to the oldest days."""
    per, extra = divmod(files, days)
    first = LAST_DAY - timedelta(days=days - 1)
    return [(first + timedelta(days=i), per + (1 if i < extra else 0)) for i in range(days)]


def build(base: Path, files: int, days: int) -> tuple[Path, Path, float | None]:
    """The dated and flat archives under ``base`` (reused if complete); build seconds or None if reused."""
    marker = base / "complete.json"
    spec = {"files": files, "days": days, "last_day": LAST_DAY.isoformat()}
    dated, flat = base / "dated", base / "flat"
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return dated, flat, None
    for folder in (dated, flat):
        if folder.exists():
            shutil.rmtree(folder)
    marker.unlink(missing_ok=True)
    started = time.perf_counter()
    flags = os.O_CREAT | os.O_WRONLY | os.O_EXCL
    flat.mkdir(parents=True)
    names: list[tuple[date, list[str]]] = []
    number = 0
    for day, count in archive_days(files, days):
        names.append((day, [f"call-{day.isoformat()}-{n:07d}.wav" for n in range(number, number + count)]))
        number += count
    # One folder at a time: alternating creates between two folders is ~10x slower on ext4.
    for day, day_names in names:
        folder = dated / f"{day:%Y/%m/%d}"
        folder.mkdir(parents=True)
        for name in day_names:
            os.close(os.open(f"{folder}/{name}", flags, 0o644))
    for _, day_names in names:
        for name in day_names:
            os.close(os.open(f"{flat}/{name}", flags, 0o644))
    marker.write_text(json.dumps(spec))
    return dated, flat, time.perf_counter() - started


def temporary_base(files: int, days: int) -> Path:
    """A fresh folder for the archive: on tmpfs (/dev/shm) if it has room for the inodes, else the temp folder."""
    needed = 2 * files + 4 * days + 100  # two layouts' files, the dated folders, a margin
    for candidate in ("/dev/shm", tempfile.gettempdir()):
        try:
            stats = os.statvfs(candidate)
        except OSError:
            continue
        if os.access(candidate, os.W_OK) and stats.f_favail >= needed:
            return Path(tempfile.mkdtemp(prefix="callmine-bench-discovery-", dir=candidate))
    return Path(tempfile.mkdtemp(prefix="callmine-bench-discovery-"))


def time_once(variant: Variant) -> None:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    found = variant.run()
    variant.wall.append(time.perf_counter() - wall)
    variant.cpu.append(time.process_time() - cpu)
    variant.found, variant.files_listed = len(found.recordings), found.files_listed


def command_line(args: argparse.Namespace) -> str:
    parts = ["--files", str(args.files), "--days", str(args.days), "--lookback", str(args.lookback),
             "--repeats", str(args.repeats)]
    if args.workdir:
        parts += ["--workdir", str(args.workdir)]
    return f"cd {shlex.quote(str(ROOT))} && PYTHONPATH=plugins:. .venv/bin/python scripts/bench_discovery.py " + \
        shlex.join(parts)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=1_000_000, help="files in the archive (each layout)")
    parser.add_argument("--days", type=int, default=365, help="days the files are spread over")
    parser.add_argument("--lookback", type=int, default=0, help="earlier days found in the same pass")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each variant, interleaved")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the archive here and reuse it (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    if args.files < args.days or args.days < args.lookback + 1:
        parser.error("need --files >= --days >= --lookback + 1")

    say(f"command: {command_line(args)}")
    say(f"machine: {platform.platform()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}")
    logging.getLogger("callmine.discovery").setLevel(logging.WARNING)  # no per-folder INFO lines in the timings
    temporary = args.workdir is None
    base = temporary_base(args.files, args.days) if temporary else \
        args.workdir / f"discovery-{args.files}-files-{args.days}-days"
    try:
        dated, flat, built = build(base, args.files, args.days)
        per_day = dict(archive_days(args.files, args.days))
        wanted = {LAST_DAY - timedelta(days=back): () for back in range(args.lookback + 1)}
        expected = sum(per_day[day] for day in wanted)
        say(f"archive: {args.files:,} empty .wav files over {args.days} days (~{args.files / args.days:,.0f} a day), "
              f"dated and flat, under {base}: " + (f"built in {built:.1f} s" if built is not None else "reused"))
        say(f"timed: discovery (listing + classification, probe=False) of {LAST_DAY}"
              + (f" and the {args.lookback} day(s) before, one pass" if args.lookback else "")
              + f": {expected:,} recording(s) to find; {args.repeats} interleaved repeat(s), best and median")
        variants = [
            Variant("dated, day folders", lambda: find_recordings_of_dates(str(dated), wanted, probe=False)),
            Variant("dated, full walk", lambda: find_recordings_of_dates(str(dated), wanted, probe=False,
                                                                         full_walk=True)),
            Variant("flat, full walk", lambda: find_recordings_of_dates(str(flat), wanted, probe=False)),
        ]
        variants[0].run()  # warm-up: imports (the full walks are too long to run untimed)
        for _ in range(args.repeats):
            for variant in variants:
                time_once(variant)
        wrong = [v.name for v in variants if v.found != expected]
        if wrong:
            raise SystemExit(f"error: {', '.join(wrong)} found another number of recordings than {expected}")

        say()
        say(f"{'variant':<20} {'files listed':>13} {'found':>7} {'best s':>9} {'median s':>9} {'CPU s':>8}")
        for v in variants:
            say(f"{v.name:<20} {v.files_listed:>13,} {v.found:>7,} {min(v.wall):>9.3f} "
                  f"{statistics.median(v.wall):>9.3f} {statistics.median(v.cpu):>8.3f}")
        fast, walk, flat_walk = (statistics.median(v.wall) for v in variants)
        fast_cpu, walk_cpu, flat_cpu = (statistics.median(v.cpu) for v in variants)
        say()
        say(f"ratio: dated full walk / dated day folders = {walk / fast:,.0f}x median wall, "
            f"{walk_cpu / fast_cpu:,.0f}x median CPU")
        say(f"ratio: flat full walk / dated day folders = {flat_walk / fast:,.0f}x median wall, "
            f"{flat_cpu / fast_cpu:,.0f}x median CPU")
        if args.lookback:
            say(f"note: the old plan_day walked the whole tree once per day: {args.lookback + 1} full walks "
                  f"(~{(args.lookback + 1) * walk:.1f} s here)")
        return {"found": expected, "files": args.files,
                "median_s": {v.name: statistics.median(v.wall) for v in variants},
                "files_listed": {v.name: v.files_listed for v in variants}}
    finally:
        if temporary:
            started = time.perf_counter()
            shutil.rmtree(base, ignore_errors=True)
            say(f"removed the temporary archive in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
