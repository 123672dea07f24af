"""Per-run staging: worker tasks drop batches here; the load step reads them all.

A batch is the unit of retry. Re-staging a batch replaces every table file of that
batch, and removes files of tables the retry no longer produces, so a retried task
can never leave stale rows behind.

Format: scratch data read once by the load task, so staged files are Arrow IPC
(``<batch>.arrow``, feather v2), not Parquet: no encoding on write, and locally no
decoding on read (memory-mapped). Uncompressed on local disk (compressing costs more
CPU than the bytes it saves); zstd on object stores, where bytes cost transfer time.
Files carry a schema marker: a file whose schema is exactly the table's current
schema plus the marker was conformed by ``stage`` and is read as is; anything else
(an older schema, a foreign file) is conformed again.

Upgrades: a run staged by a release before IPC has ``<batch>.parquet`` files; they
still load (and are always conformed). Each batch is read in ONE format, never mixed
table by table: a stage replaces all of a batch's tables, so mixing could resurrect a
table the latest stage removed. ``stage`` writes its IPC files first and only then
removes the batch's Parquet files, so both exist only after a crash in between (IPC
is newer) or when a worker of the old release re-staged the batch after a new one
(Parquet is newer). Hence: the format holding the batch's newest file wins; ties and
filesystems without modification times go to IPC.
"""

from __future__ import annotations

import pyarrow as pa

from callmine.warehouse.conform import conform
from callmine.warehouse.layout import staging_dir
from callmine.warehouse.schema import TABLES
from callmine.warehouse.storage import Storage, check_name

BATCH_SUFFIX = ".arrow"
LEGACY_SUFFIX = ".parquet"  # staged by releases before IPC staging
# Schema metadata of a file ``stage`` wrote after conforming it.
STAGED_MARK = {b"callmine.staged": b"conformed"}
# Object stores: zstd shrinks staged words 3.5x (lz4: 2.9x) for about half the CPU of
# Parquet zstd on write and a quarter on read (50 calls of 2,500 words, one chunk per column).
REMOTE_COMPRESSION = "zstd"


def stage(storage: Storage, run_key: str, batch: str, tables: dict[str, pa.Table]) -> None:
    check_name("run_key", run_key)
    check_name("batch", batch)
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise KeyError(f"unknown table(s) {sorted(unknown)}; known: {', '.join(TABLES)}")
    # Conform first: a bad batch fails in the task that produced it, with nothing written.
    conformed = {name: conform(name, table) for name, table in tables.items()}
    compression = None if storage.is_local else REMOTE_COMPRESSION
    for name in TABLES:
        final = _batch_path(storage, run_key, name, batch, BATCH_SUFFIX)
        table = conformed.get(name)
        if table is None or table.num_rows == 0:
            storage.remove(final)
        else:
            if compression:  # IPC compresses buffer by buffer: one per column, not one per call
                table = table.combine_chunks()
            storage.write_ipc_atomic(final, table.replace_schema_metadata(STAGED_MARK), compression)
    # Only now: a crash before this line leaves the older Parquet files beside newer IPC ones.
    for name in TABLES:
        storage.remove(_batch_path(storage, run_key, name, batch, LEGACY_SUFFIX))


def staged_tables(storage: Storage, run_key: str) -> dict[str, pa.Table]:
    """Every table (empty if nothing staged), all batches concatenated in batch order."""
    check_name("run_key", run_key)
    files = _staged_files(storage, run_key)
    batches = sorted(files, key=lambda batch: batch + LEGACY_SUFFIX)  # the order of the Parquet file names
    result: dict[str, pa.Table] = {}
    for name in TABLES:
        parts = [_read(storage, name, files[batch][name]) for batch in batches if name in files[batch]]
        result[name] = pa.concat_tables(parts) if parts else TABLES[name].empty_table()
    return result


def clear_stage(storage: Storage, run_key: str) -> None:
    check_name("run_key", run_key)
    storage.remove_tree(storage.path(staging_dir(run_key)))


def staged_batch(storage: Storage, run_key: str, batch: str) -> dict[str, pa.Table]:
    """One batch's staged tables (a table the batch did not stage is empty)."""
    check_name("run_key", run_key)
    check_name("batch", batch)
    found = {
        suffix: paths
        for suffix in (BATCH_SUFFIX, LEGACY_SUFFIX)
        if (paths := {name: path for name in TABLES
                      if storage.exists(path := _batch_path(storage, run_key, name, batch, suffix))})
    }
    files = _one_format(storage, found)
    return {
        name: _read(storage, name, files[name]) if name in files else TABLES[name].empty_table()
        for name in TABLES
    }


def stage_json(storage: Storage, run_key: str, name: str, content: bytes) -> str:
    """A JSON document in the run's scratch area (e.g. a trigger's input); returns its URL."""
    check_name("run_key", run_key)
    check_name("name", name)
    path = storage.path(staging_dir(run_key, JSON_DIR), name + ".json")
    storage.write_bytes_atomic(path, content)
    return storage.url(path)


JSON_DIR = "_json"


def _batch_path(storage: Storage, run_key: str, table: str, batch: str, suffix: str) -> str:
    return storage.path(staging_dir(run_key, table), batch + suffix)


def _staged_files(storage: Storage, run_key: str) -> dict[str, dict[str, str]]:
    """batch -> table -> the file to read, each batch in one format (module docstring)."""
    found: dict[str, dict[str, dict[str, str]]] = {}  # batch -> suffix -> table -> path
    for name in TABLES:
        for path in storage.list_files(storage.path(staging_dir(run_key, name))):
            file_name = path.rpartition("/")[2]
            for suffix in (BATCH_SUFFIX, LEGACY_SUFFIX):
                if file_name.endswith(suffix):
                    batch = file_name[: -len(suffix)]
                    found.setdefault(batch, {}).setdefault(suffix, {})[name] = path
    return {batch: _one_format(storage, by_suffix) for batch, by_suffix in found.items()}


def _one_format(storage: Storage, by_suffix: dict[str, dict[str, str]]) -> dict[str, str]:
    """The batch's files in the format its newest file has (ties and unknown times: IPC)."""
    if len(by_suffix) < 2:
        return next(iter(by_suffix.values()), {})

    def newest(suffix: str) -> float:
        times = [storage.modified(path) for path in by_suffix[suffix].values()]
        return max((t for t in times if t is not None), default=float("-inf"))

    return by_suffix[LEGACY_SUFFIX if newest(LEGACY_SUFFIX) > newest(BATCH_SUFFIX) else BATCH_SUFFIX]


def _read(storage: Storage, name: str, path: str) -> pa.Table:
    if path.endswith(LEGACY_SUFFIX):
        table = storage.read_parquet(path)
    else:
        table = storage.read_ipc(path)
        if table is not None and table.schema.equals(TABLES[name].with_metadata(STAGED_MARK), check_metadata=True):
            return table.replace_schema_metadata(None)  # conformed by stage: trusted as is
    if table is None:  # removed since it was listed (a concurrent re-stage)
        raise FileNotFoundError(f"staged file {path} disappeared while reading; re-run the load")
    return conform(name, table)
