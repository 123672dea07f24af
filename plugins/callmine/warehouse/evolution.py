"""Schema evolution: the warehouse records each table's schema with the data and upgrades old files.

Every table folder holds a row-less Parquet file with the table's current schema,
``<table>/call_month=0000-00/part-0.parquet``. It sorts before every month file, and
DuckDB binds a multi-file ``read_parquet`` to its first file, so the views (plain
``SELECT *`` over the table's files, no ``union_by_name``) always have exactly that
schema. Files may have more columns than the schema file (ignored), never fewer.

When a release adds a column (``schema.TABLES``, appended at the end), the first load
afterwards (or ``callmine migrate``) upgrades the table, in this order, each file under
its month's lock:

1. every month file that lacks the column is rewritten with it (NULL for old rows);
   readers keep the old schema from the schema file meanwhile, extra columns ignored;
2. then the schema file is replaced (atomic rename): from now on the views show the
   column, and every file has it.

A crash in between is harmless: the next load finds the old schema file and finishes.
A column the code does not know (a newer callmine wrote it) is never dropped: the load
refuses with an error instead.
"""

from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.parquet as pq

from callmine.warehouse.conform import SchemaError, conform
from callmine.warehouse.layout import MONTH_KEY, SCHEMA_MONTH, month_file, schema_file
from callmine.warehouse.locks import month_lock
from callmine.warehouse.schema import TABLES, file_schema
from callmine.warehouse.storage import Storage

log = logging.getLogger(__name__)


def recorded_schema(storage: Storage, table: str) -> pa.Schema | None:
    """The schema the warehouse records for ``table`` (None before its first load)."""
    path = storage.path(schema_file(table))
    try:
        with storage.fs.open(path, "rb") as f:
            return pq.read_schema(f)
    except FileNotFoundError:
        return None


def ensure_schema(storage: Storage) -> list[str]:
    """Bring every table's files and schema file up to ``file_schema``; returns the tables upgraded."""
    upgraded = []
    for table in TABLES:
        want = file_schema(table)
        have = recorded_schema(storage, table)
        if have is not None and _shape(have) == _shape(want):
            continue
        if have is not None:
            unknown = [name for name in have.names if want.get_field_index(name) < 0]
            if unknown:
                raise SchemaError(
                    f"{table}: the warehouse at {storage.root_url} has column(s) {unknown} this callmine does not "
                    f"know (written by a newer release?); upgrade callmine instead of loading with this one"
                )
            rewritten = _upgrade_month_files(storage, table, want)
            log.info("warehouse %s: table %s upgraded to %d columns (%d month file(s) rewritten)",
                     storage.root_url, table, len(want), rewritten)
        storage.write_parquet_atomic(storage.path(schema_file(table)), want.empty_table())
        upgraded.append(table)
    return upgraded


def _upgrade_month_files(storage: Storage, table: str, want: pa.Schema) -> int:
    rewritten = 0
    for folder in storage.list_dirs(storage.path(table)):
        name = folder.rpartition("/")[2]
        if not name.startswith(f"{MONTH_KEY}=") or name == f"{MONTH_KEY}={SCHEMA_MONTH}":
            continue
        month = name.removeprefix(f"{MONTH_KEY}=")
        path = storage.path(month_file(table, month))
        with month_lock(storage, month):
            try:
                with storage.fs.open(path, "rb") as f:
                    have = pq.read_schema(f)
            except FileNotFoundError:
                continue
            if _shape(have) == _shape(want):
                continue
            storage.write_parquet_atomic(path, conform(table, storage.read_parquet(path), want))
            rewritten += 1
    return rewritten


def _shape(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    return [(field.name, field.type) for field in schema]
