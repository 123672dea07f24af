"""Per-run staging: worker tasks drop batches here; the load step reads them all.

A batch is the unit of retry: its stage task may run again, or be killed half way,
and the load (which runs even when some stage tasks failed) must read each batch's
tables from ONE attempt: ``calls`` of one attempt beside ``segments`` of another is
a corrupt batch, and a table the retry no longer produces must not come back. So
every attempt writes new files (``<table>/<batch>.<token>.arrow``, token unique to
the attempt) and then commits them with one atomic write of the batch's marker,
``_batches/<batch>.json``, naming its token and tables (``staged_batches.py``).
Readers read exactly the files the marker names; files no marker names are an
uncommitted attempt and are ignored. Only after the new marker is in place does the
stage delete the previous attempt's files (the ones the marker it replaced named), so
a crash at any point leaves the previous committed attempt or the new one, never a
mix. Files of an attempt that died before its marker stay until ``clear_stage``.

Format: scratch data read once by the load task, so staged files are Arrow IPC
(feather v2), not Parquet: no encoding on write, no decoding on read. Uncompressed
on local disk (compressing costs more CPU than the bytes it saves); zstd on object
stores, where bytes cost transfer time. Read into memory, not memory-mapped (safe on
shared network mounts; ``Storage.read_ipc``). Files carry a schema marker: a file
whose schema is exactly the table's current schema plus the marker was conformed by
``stage`` and is read as is; anything else (an older schema, a foreign file) is
conformed again.

Upgrades: a run staged by a release before IPC has ``<table>/<batch>.parquet`` files
and no markers. A batch without a marker is read from them (always conformed); a
marker outranks them. ``stage`` deletes them after its commit when a listing finds
them.
"""

from __future__ import annotations

import logging

import pyarrow as pa

from callmine.warehouse.conform import conform
from callmine.warehouse.layout import staging_dir
from callmine.warehouse.schema import TABLES
from callmine.warehouse.staged_batches import (
    LEGACY_SUFFIX, Attempt, commit, committed_attempt, legacy_files, staged_files,
)
from callmine.warehouse.storage import Storage, check_name

log = logging.getLogger(__name__)

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
    previous = _previous_attempt(storage, run_key, batch)
    attempt = Attempt.new({name: conformed[name].num_rows for name in TABLES
                           if name in conformed and conformed[name].num_rows})
    compression = None if storage.is_local else REMOTE_COMPRESSION
    for name, path in attempt.files(storage, run_key, batch).items():
        table = conformed[name]
        if compression:  # IPC compresses buffer by buffer: one per column, not one per call
            table = table.combine_chunks()
        storage.write_ipc(path, table.replace_schema_metadata(STAGED_MARK), compression)
    commit(storage, run_key, batch, attempt)  # the commit point
    # Only now: until the marker above replaced it, the previous attempt was the live one.
    if previous is not None:
        stale = list(previous.files(storage, run_key, batch).values())
    else:  # never committed by this release: the previous one may have staged it as Parquet
        stale = list(legacy_files(storage, run_key).get(batch, {}).values())
    for path in stale:
        try:
            storage.remove(path)
        except Exception as e:  # noqa: BLE001 - unread garbage; clear_stage removes it anyway
            log.warning("staged batch %s: could not remove the replaced file %s: %s", batch, path, e)


def staged_tables(storage: Storage, run_key: str) -> dict[str, pa.Table]:
    """Every table (empty if nothing staged), all batches concatenated in batch order."""
    check_name("run_key", run_key)
    files = staged_files(storage, run_key)
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
    attempt = committed_attempt(storage, run_key, batch)
    if attempt is not None:
        files = attempt.files(storage, run_key, batch)
    else:
        files = legacy_files(storage, run_key).get(batch, {})
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


def _previous_attempt(storage: Storage, run_key: str, batch: str) -> Attempt | None:
    """The batch's committed attempt, whose files the new one replaces (None: none, or unreadable)."""
    try:
        return committed_attempt(storage, run_key, batch)
    except ValueError as e:  # its files stay until clear_stage; the new marker replaces it
        log.warning("staged batch %s: ignoring the previous commit marker: %s", batch, e)
        return None


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
