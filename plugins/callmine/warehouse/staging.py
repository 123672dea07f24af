"""Per-run staging: worker tasks drop batches here; the load step reads them all.

A batch is the unit of retry. Re-staging a batch replaces every table file of that
batch, and removes files of tables the retry no longer produces, so a retried task
can never leave stale rows behind.
"""

from __future__ import annotations

import pyarrow as pa

from callmine.warehouse.conform import conform
from callmine.warehouse.layout import staging_dir
from callmine.warehouse.schema import TABLES
from callmine.warehouse.storage import Storage, check_name

BATCH_SUFFIX = ".parquet"


def stage(storage: Storage, run_key: str, batch: str, tables: dict[str, pa.Table]) -> None:
    check_name("run_key", run_key)
    check_name("batch", batch)
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise KeyError(f"unknown table(s) {sorted(unknown)}; known: {', '.join(TABLES)}")
    # Conform first: a bad batch fails in the task that produced it, with nothing written.
    conformed = {name: conform(name, table) for name, table in tables.items()}
    for name in TABLES:
        final = storage.path(staging_dir(run_key, name), batch + BATCH_SUFFIX)
        table = conformed.get(name)
        if table is None or table.num_rows == 0:
            storage.remove(final)
        else:
            storage.write_parquet_atomic(final, table)


def staged_tables(storage: Storage, run_key: str) -> dict[str, pa.Table]:
    """Every table (empty if nothing staged), all batches concatenated in batch order."""
    check_name("run_key", run_key)
    result: dict[str, pa.Table] = {}
    for name in TABLES:
        files = storage.list_files(storage.path(staging_dir(run_key, name)), BATCH_SUFFIX)
        parts = [conform(name, storage.read_parquet(path)) for path in files]
        result[name] = pa.concat_tables(parts) if parts else TABLES[name].empty_table()
    return result


def clear_stage(storage: Storage, run_key: str) -> None:
    check_name("run_key", run_key)
    storage.remove_tree(storage.path(staging_dir(run_key)))


def staged_batch(storage: Storage, run_key: str, batch: str) -> dict[str, pa.Table]:
    """One batch's staged tables (a table the batch did not stage is empty)."""
    check_name("run_key", run_key)
    check_name("batch", batch)
    result: dict[str, pa.Table] = {}
    for name in TABLES:
        table = storage.read_parquet(storage.path(staging_dir(run_key, name), batch + BATCH_SUFFIX))
        result[name] = conform(name, table) if table is not None else TABLES[name].empty_table()
    return result


def stage_json(storage: Storage, run_key: str, name: str, content: bytes) -> str:
    """A JSON document in the run's scratch area (e.g. a trigger's input); returns its URL."""
    check_name("run_key", run_key)
    check_name("name", name)
    path = storage.path(staging_dir(run_key, JSON_DIR), name + ".json")
    storage.write_bytes_atomic(path, content)
    return storage.url(path)


JSON_DIR = "_json"
