"""Where things live under a warehouse root (paths relative to the root).

    <root>/<table>/call_date=YYYY-MM-DD/part-0.parquet      one file per table per day
    <root>/_staging/<run_key>/<table>/<batch>.parquet       per-run scratch area
    <root>/subtitles/call_date=YYYY-MM-DD/<call_id>.<fmt>   SRT / VTT files
    <root>/callmine.duckdb                                  DuckDB catalog (local only)
"""

from __future__ import annotations

import datetime as dt

from callmine.warehouse.schema import PARTITION_COLUMN, TABLES

PART_FILE = "part-0.parquet"
STAGING_DIR = "_staging"
SUBTITLES_DIR = "subtitles"
CATALOG_FILE = "callmine.duckdb"

# The glob views read; temp files (".part-0.parquet.<uuid>.tmp") never match it.
TABLE_GLOB = "{table}/*/*.parquet"


def partition_name(call_date: dt.date) -> str:
    if isinstance(call_date, dt.datetime) or not isinstance(call_date, dt.date):
        # A datetime would format with a time and silently create a new partition.
        raise TypeError(f"call_date must be a datetime.date, got {type(call_date).__name__}")
    return f"{PARTITION_COLUMN}={call_date.isoformat()}"


def partition_dir(table: str, call_date: dt.date) -> str:
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}")
    return f"{table}/{partition_name(call_date)}"


def partition_file(table: str, call_date: dt.date) -> str:
    return f"{partition_dir(table, call_date)}/{PART_FILE}"


def staging_dir(run_key: str, table: str | None = None) -> str:
    return f"{STAGING_DIR}/{run_key}" + (f"/{table}" if table else "")


def subtitle_file(call_date: dt.date, call_id: str, fmt: str) -> str:
    return f"{SUBTITLES_DIR}/{partition_name(call_date)}/{call_id}.{fmt}"
