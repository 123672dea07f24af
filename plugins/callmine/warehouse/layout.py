"""Where things live under a warehouse root (paths relative to the root).

    <root>/<table>/call_month=YYYY-MM/part-0.parquet        one file per table per month,
                                                            sorted by (call_date, key)
    <root>/<table>/call_month=0000-00/part-0.parquet        no rows: the table's current schema
                                                            (sorts first: DuckDB binds the view to it)
    <root>/_staging/<run_key>/<table>/<batch>.<token>.arrow per-run scratch area (Arrow IPC, one token per attempt)
    <root>/_staging/<run_key>/_batches/<batch>.json         a batch's commit marker (names its attempt's files)
    <root>/_locks/<YYYY-MM>.lock                            month write locks (local roots)
    <root>/subtitles/call_date=YYYY-MM-DD/<call_id>.<fmt>   SRT / VTT files
    <root>/callmine.duckdb                                  DuckDB catalog (local only)

Warehouses written before the monthly layout hold one file per day
(``<table>/call_date=YYYY-MM-DD/part-0.parquet``); ``callmine migrate`` rewrites them
(``migrate.py``).
Why monthly files: docs/warehouse.md ("Layout").
"""

from __future__ import annotations

import datetime as dt

from callmine.warehouse.schema import PARTITION_COLUMN, TABLES

PART_FILE = "part-0.parquet"
STAGING_DIR = "_staging"
LOCKS_DIR = "_locks"
SUBTITLES_DIR = "subtitles"
CATALOG_FILE = "callmine.duckdb"
MONTH_KEY = "call_month"
LEGACY_DAY_PREFIX = f"{PARTITION_COLUMN}="  # the daily layout's folder names

SCHEMA_MONTH = "0000-00"  # the schema file's folder; sorts before every real month

# The glob views read: month folders only, so a temp file (".part-0.parquet.<uuid>.tmp")
# and a not yet migrated daily folder never match it.
TABLE_GLOB = "{table}/" + MONTH_KEY + "=*/*.parquet"


def _check_date(call_date: dt.date) -> None:
    if isinstance(call_date, dt.datetime) or not isinstance(call_date, dt.date):
        # A datetime would format with a time and silently create a new partition.
        raise TypeError(f"call_date must be a datetime.date, got {type(call_date).__name__}")


def month_of(call_date: dt.date) -> str:
    """``YYYY-MM``: the month file a call date belongs to."""
    _check_date(call_date)
    return f"{call_date:%Y-%m}"


def partition_name(call_date: dt.date) -> str:
    """The daily folder name (subtitles; the legacy table layout)."""
    _check_date(call_date)
    return f"{LEGACY_DAY_PREFIX}{call_date.isoformat()}"


def month_dir(table: str, month: str) -> str:
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}")
    return f"{table}/{MONTH_KEY}={month}"


def month_file(table: str, month: str) -> str:
    return f"{month_dir(table, month)}/{PART_FILE}"


def schema_file(table: str) -> str:
    return month_file(table, SCHEMA_MONTH)


def partition_file(table: str, call_date: dt.date) -> str:
    """The file holding ``call_date``'s rows of ``table`` (its month's file)."""
    return month_file(table, month_of(call_date))


def lock_file(month: str) -> str:
    return f"{LOCKS_DIR}/{month}.lock"


def staging_dir(run_key: str, table: str | None = None) -> str:
    return f"{STAGING_DIR}/{run_key}" + (f"/{table}" if table else "")


def subtitle_file(call_date: dt.date, call_id: str, fmt: str) -> str:
    return f"{SUBTITLES_DIR}/{partition_name(call_date)}/{call_id}.{fmt}"
