"""``callmine migrate``: rewrite a daily-layout warehouse into monthly files, in place.

The daily layout (``<table>/call_date=YYYY-MM-DD/part-0.parquet``, ``call_date`` only in
the folder name) becomes one file per table per month (``<table>/call_month=YYYY-MM/
part-0.parquet``, ``call_date`` stored, rows sorted by ``call_date`` then key, field ids).

Safe to interrupt and re-run at any point:

- month by month, under the month's write lock (``locks.month_lock``);
- every table's new month file is written under a temp name first, then renamed into
  place (children first, ``calls`` last, as a load publishes); only after that are
  the month's daily files deleted;
- the daily files are the source of truth for their days: a re-run after a crash
  merges them again into the month file, replacing those days' rows (so nothing is
  duplicated), and a month file that already exists keeps its other days.

Finally every table gets its schema file (evolution.py). Readers of the new views
never see the daily files (the views read ``call_month=*``),
so until its month is migrated a day is invisible, never doubled; loads refuse to run
on a warehouse that still has daily files (``Warehouse.check_layout``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from callmine.warehouse.conform import conform
from callmine.warehouse.evolution import ensure_schema
from callmine.warehouse.layout import LEGACY_DAY_PREFIX, PART_FILE, month_dir, month_file
from callmine.warehouse.locks import month_lock
from callmine.warehouse.merge import merge_day_into_month
from callmine.warehouse.schema import PARTITION_COLUMN, TABLES, file_schema
from callmine.warehouse.storage import Storage


@dataclass(frozen=True, slots=True)
class LegacyDay:
    table: str
    call_date: dt.date
    folder: str  # .../<table>/call_date=YYYY-MM-DD


@dataclass
class MigrationReport:
    months: list[str] = field(default_factory=list)  # months rewritten
    day_folders: int = 0  # daily folders merged and removed
    rows: dict[str, int] = field(default_factory=dict)  # rows per table in the rewritten month files
    unreadable: list[str] = field(default_factory=list)  # folders left alone (not a call_date)
    upgraded: list[str] = field(default_factory=list)  # tables whose schema file was written/upgraded


def legacy_days(storage: Storage) -> tuple[dict[str, list[LegacyDay]], list[str]]:
    """Daily folders by month (``YYYY-MM``), and folders whose name is not a valid date."""
    by_month: dict[str, list[LegacyDay]] = defaultdict(list)
    odd: list[str] = []
    for table in TABLES:
        for folder in storage.list_dirs(storage.path(table)):
            name = folder.rpartition("/")[2]
            if not name.startswith(LEGACY_DAY_PREFIX):
                continue
            try:
                call_date = dt.date.fromisoformat(name.removeprefix(LEGACY_DAY_PREFIX))
            except ValueError:
                odd.append(folder)
                continue
            by_month[f"{call_date:%Y-%m}"].append(LegacyDay(table, call_date, folder))
    return dict(sorted(by_month.items())), odd


def migrate_layout(
    storage: Storage,
    dry_run: bool = False,
    say: Callable[[str], None] = print,
) -> MigrationReport:
    """Rewrite every daily folder into its month file; returns what was done (or would be)."""
    plan, odd = legacy_days(storage)
    report = MigrationReport(unreadable=odd)
    for folder in odd:
        say(f"skipped {folder}: not a call_date=YYYY-MM-DD folder (left as it is)")
    if not plan:
        if not dry_run:
            report.upgraded = ensure_schema(storage)
        say(f"{storage.root_url}: already in the monthly layout"
            + (f"; schema recorded/upgraded for {', '.join(report.upgraded)}" if report.upgraded else ", nothing to do"))
        return report
    for month, days in plan.items():
        by_table: dict[str, list[LegacyDay]] = defaultdict(list)
        for day in days:
            by_table[day.table].append(day)
        if dry_run:
            say(f"{month}: would merge {len(days)} daily folder(s) of {', '.join(sorted(by_table))}")
            report.months.append(month)
            report.day_folders += len(days)
            continue
        with month_lock(storage, month):
            rows = _migrate_month(storage, month, by_table)
        report.months.append(month)
        report.day_folders += len(days)
        for table, count in rows.items():
            report.rows[table] = report.rows.get(table, 0) + count
        say(f"{month}: {len(days)} daily folder(s) -> " + ", ".join(f"{t} {n:,}" for t, n in rows.items()) + " rows")
    if not dry_run:
        report.upgraded = ensure_schema(storage)
    return report


def _migrate_month(storage: Storage, month: str, by_table: dict[str, list[LegacyDay]]) -> dict[str, int]:
    merged: dict[str, pa.Table] = {}
    for table in TABLES:
        if table not in by_table:
            continue
        final = storage.path(month_file(table, month))
        existing = storage.read_parquet(final)
        month_rows = None if existing is None else conform(table, existing, file_schema(table))
        for day in sorted(by_table[table], key=lambda d: d.call_date):
            day_rows = _read_day(storage, day)
            if day_rows is None:
                continue
            # The daily file is the whole day: every row of that day in the month file goes.
            ids = [day_rows.column("call_id")]
            if month_rows is not None:
                same_day = pc.equal(month_rows.column(PARTITION_COLUMN), pa.scalar(day.call_date, pa.date32()))
                ids.append(month_rows.column("call_id").filter(same_day))
            replaced = pc.unique(pa.chunked_array([c for part in ids for c in part.chunks], pa.string()))
            month_rows = merge_day_into_month(table, month_rows, day_rows, day.call_date, replaced).table
        if month_rows is not None:
            merged[table] = month_rows

    temps: dict[str, str] = {}
    try:
        for table, rows in merged.items():
            storage.remove_stale_temps(storage.path(month_dir(table, month)))
            temps[table] = storage.write_parquet_temp(storage.path(month_file(table, month)), rows)
        for table in TABLES:  # children first, calls last
            if table in temps:
                storage.commit(temps[table], storage.path(month_file(table, month)))
                del temps[table]
    finally:
        for temp in temps.values():
            storage.remove(temp)
    for table, days in by_table.items():
        for day in days:
            storage.remove_tree(day.folder)
    return {table: rows.num_rows for table, rows in merged.items()}


def _read_day(storage: Storage, day: LegacyDay) -> pa.Table | None:
    rows = storage.read_parquet(f"{day.folder}/{PART_FILE}")
    if rows is None or rows.num_rows == 0:
        return None
    if PARTITION_COLUMN not in rows.column_names:  # the daily layout kept it in the folder name only
        rows = rows.append_column(PARTITION_COLUMN, pa.array([day.call_date] * rows.num_rows, pa.date32()))
    return conform(day.table, rows, file_schema(day.table))
