"""DuckDB access to the warehouse: an in-memory connection, or a ``.duckdb`` file.

The ``.duckdb`` catalog only holds VIEW definitions (absolute paths), never data, so
it is cheap to rebuild and never stale with respect to the Parquet files: a query
always reads the files as they are now.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb

from callmine.warehouse.layout import CATALOG_FILE, schema_file
from callmine.warehouse.schema import TABLES
from callmine.warehouse.storage import Storage
from callmine.warehouse.views import views_sql

# Protocols DuckDB reads without help; anything else goes through fsspec.
_NATIVE_PROTOCOLS = {"file", "local"}


def connect(
    warehouse_uri: str,
    storage_options: dict | None = None,
    database: str = ":memory:",
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per warehouse table."""
    storage = Storage(str(warehouse_uri), storage_options)
    con = duckdb.connect(database)
    try:
        _register_filesystem(con, storage)
        con.execute(views_sql(storage.root_url, empty_tables(storage)))
    except BaseException:
        con.close()
        raise
    return con


def empty_tables(storage: Storage) -> frozenset[str]:
    """Tables without a schema file yet (a warehouse before its first load)."""
    return frozenset(name for name in TABLES if not storage.exists(storage.path(schema_file(name))))


def default_catalog_path(warehouse_uri: str) -> str:
    storage = Storage(str(warehouse_uri))
    if not storage.is_local:
        raise ValueError(f"warehouse {warehouse_uri!r} is not local: pass db_path for the .duckdb file")
    return storage.path(CATALOG_FILE)


def build_catalog(
    warehouse_uri: str,
    db_path: str | None = None,
    storage_options: dict | None = None,
) -> str:
    """Create or refresh the ``.duckdb`` catalog file; returns its absolute path.

    Built under a temporary name and renamed into place, so a concurrent reader keeps
    a consistent (old or new) catalog. For a remote warehouse the file's views use its
    URLs, which need DuckDB's httpfs (or an fsspec filesystem) when queried.
    """
    target = Path(db_path or default_catalog_path(warehouse_uri)).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        connect(warehouse_uri, storage_options, database=str(temp)).close()
        os.replace(temp, target)
    finally:
        for leftover in (temp, temp.with_name(temp.name + ".wal")):
            leftover.unlink(missing_ok=True)
    return str(target)


def _register_filesystem(con: duckdb.DuckDBPyConnection, storage: Storage) -> None:
    protocols = storage.fs.protocol
    protocols = {protocols} if isinstance(protocols, str) else set(protocols)
    if protocols & _NATIVE_PROTOCOLS:
        return
    # Lets DuckDB read memory://, s3:// (via s3fs) ... without network extensions.
    con.register_filesystem(storage.fs)
