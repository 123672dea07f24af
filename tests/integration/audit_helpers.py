"""Secrets audit plumbing: recognizable fake keys, and scanners that look for them everywhere.

- ``AuditKeys``: one distinct, recognizable key per Airflow connection, and the byte
  patterns ("needles") that betray each: the key, its random tail alone (a truncated or
  partly masked key), its base64 forms, and the marker every audit key shares.
- Scanners: ``scan_tree`` (every file, raw bytes; Parquet files decoded, the DuckDB
  catalog opened, gzip unpacked), ``scan_sqlite`` (every row of every table of the
  metadata DB; compressed blobs inflated, Fernet tokens decrypted), ``scan_values``.
- ``RequestTap``: ASGI middleware recording what a fake HTTP service received (headers,
  path, query, which needles its body held), to prove where keys were sent.
- ``DbSampler``: copies short-lived metadata rows (trigger rows, deferral kwargs) while
  runs are in flight; Airflow deletes a trigger row once its task resumes.

Each hit names where it was found and which connection's key it is.
"""

from __future__ import annotations

import base64
import gzip
import json
import secrets
import signal
import sqlite3
import sys
import threading
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from configparser import ConfigParser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARKER = "AUDITKEY"  # in every audit key: a hit on it alone is still a leak, of some key
ANY_KEY = "(an audit key)"


@dataclass(frozen=True)
class Hit:
    where: str
    conn_id: str

    def __str__(self) -> str:
        return f"{self.conn_id} key in {self.where}"


class AuditKeys:
    """``{conn_id: key}``, each key ``<prefix>AUDITKEY_<conn tag>_<random hex>``."""

    def __init__(self, prefixes: dict[str, str]) -> None:
        self.keys = {conn_id: f"{prefix}{MARKER}_{conn_id.split('_')[0]}_{secrets.token_hex(12)}"
                     for conn_id, prefix in prefixes.items()}
        self.needles: list[tuple[str, bytes]] = []
        for conn_id, key in self.keys.items():
            raw = key.encode()
            tail = key.rsplit("_", 1)[1].encode()
            forms = {raw, tail}
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                forms.add(encode(raw).rstrip(b"="))
            self.needles += [(conn_id, form) for form in sorted(forms)]
        self.needles.append((ANY_KEY, MARKER.encode()))

    def __getitem__(self, conn_id: str) -> str:
        return self.keys[conn_id]

    def found_in(self, data: bytes | str) -> set[str]:
        """The connections whose key (in any needle form) is in ``data``."""
        blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        found = {conn_id for conn_id, needle in self.needles if needle in blob}
        if len(found) > 1:
            found.discard(ANY_KEY)  # named by a more precise needle already
        return found

    def hits(self, where: str, data: bytes | str) -> list[Hit]:
        return [Hit(where, conn_id) for conn_id in sorted(self.found_in(data))]


# -- decoding -----------------------------------------------------------------------------


def inflated(blob: bytes) -> bytes | None:
    """A zlib / gzip compressed blob, decompressed (None when it is not one)."""
    for unpack in (zlib.decompress, gzip.decompress, lambda b: zlib.decompress(b, -15)):
        try:
            return unpack(blob)
        except Exception:  # not that format
            continue
    return None


def deployment_fernet(home: Path, env: dict[str, str]) -> Any | None:
    """The deployment's Fernet (AIRFLOW__CORE__FERNET_KEY or airflow.cfg), None when unset."""
    key = env.get("AIRFLOW__CORE__FERNET_KEY", "")
    cfg = home / "airflow.cfg"
    if not key and cfg.exists():
        parser = ConfigParser(interpolation=None, strict=False)
        parser.read(cfg)
        key = parser.get("core", "fernet_key", fallback="")
    if not key.strip():
        return None
    from cryptography.fernet import Fernet, MultiFernet

    return MultiFernet([Fernet(part.strip().encode()) for part in key.split(",") if part.strip()])


def decrypted(value: str, fernet: Any | None) -> bytes | None:
    """A Fernet token (Airflow's encrypted trigger kwargs, connection fields), decrypted."""
    if fernet is None or not value.startswith("gAAAAA"):
        return None
    try:
        return fernet.decrypt(value.encode())
    except Exception:
        return None


def cell_forms(value: Any, fernet: Any | None = None) -> Iterator[tuple[str, bytes]]:
    """Every readable form of a DB cell: raw, inflated, decrypted (each labelled)."""
    if value is None or isinstance(value, (int, float)):
        return
    blob = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")
    yield "", blob
    if isinstance(value, bytes):
        unpacked = inflated(value)
        if unpacked is not None:
            yield " (decompressed)", unpacked
    if isinstance(value, str):
        plain = decrypted(value, fernet)
        if plain is not None:
            yield " (decrypted)", plain


def scan_values(keys: AuditKeys, where: str, values: Iterable[Any]) -> list[Hit]:
    """Values of any JSON-able shape (dicts, lists, strings, bytes)."""
    hits: list[Hit] = []
    for i, value in enumerate(values):
        if isinstance(value, bytes):
            hits += keys.hits(f"{where}[{i}]", value)
        else:
            hits += keys.hits(f"{where}[{i}]", json.dumps(value, default=repr))
    return hits


# -- files --------------------------------------------------------------------------------


def scan_parquet(keys: AuditKeys, path: Path) -> list[Hit]:
    """Every value of every column, and the file's schema and key-value metadata."""
    import pyarrow.parquet as pq

    hits: list[Hit] = []
    meta = pq.read_metadata(path)
    hits += keys.hits(f"{path} (parquet metadata)", repr(meta.metadata) + meta.schema.to_arrow_schema().to_string())
    table = pq.read_table(path)
    for name in table.column_names:
        values = table.column(name).to_pylist()
        hits += keys.hits(f"{path} (parquet column {name})", json.dumps(values, default=repr))
    return hits


def scan_duckdb(keys: AuditKeys, path: Path) -> list[Hit]:
    """The catalog's view definitions, macros, and every row of any base table in it."""
    import duckdb

    hits: list[Hit] = []
    con = duckdb.connect(str(path), read_only=True)
    try:
        for what, sql in (
            ("views", "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal"),
            ("macros", "SELECT function_name, macro_definition FROM duckdb_functions() "
                       "WHERE NOT internal AND macro_definition IS NOT NULL"),
            ("tables", "SELECT table_name, sql FROM duckdb_tables() WHERE NOT internal"),
        ):
            for name, text in con.execute(sql).fetchall():
                hits += keys.hits(f"{path} (duckdb {what}: {name})", text or "")
        for schema, table in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal").fetchall():
            rows = con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            hits += keys.hits(f"{path} (duckdb table {schema}.{table})", json.dumps(rows, default=repr))
    finally:
        con.close()
    return hits


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def scan_file(keys: AuditKeys, path: Path) -> list[Hit]:
    data = path.read_bytes()
    hits = keys.hits(str(path), data)
    if path.suffix == ".parquet":
        hits += scan_parquet(keys, path)
    elif path.suffix == ".duckdb":
        hits += scan_duckdb(keys, path)
    elif path.suffix == ".gz":
        unpacked = inflated(data)
        if unpacked is not None:
            hits += keys.hits(f"{path} (gunzipped)", unpacked)
    return hits


def scan_tree(keys: AuditKeys, root: Path) -> tuple[list[Path], list[Hit]]:
    """(the files scanned, the hits) for every file under ``root``."""
    files = files_under(root)
    hits: list[Hit] = []
    for path in files:
        hits += scan_file(keys, path)
    return files, hits


# -- the metadata database -------------------------------------------------------------------


def read_only(db_path: Path, timeout: float = 10.0) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=timeout)


def table_names(db_path: Path) -> list[str]:
    with read_only(db_path) as con:
        return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def rows(db_path: Path, table: str, columns: str = "*", where: str = "") -> list[dict[str, Any]]:
    with read_only(db_path) as con:
        con.row_factory = sqlite3.Row
        sql = f'SELECT {columns} FROM "{table}"' + (f" WHERE {where}" if where else "")
        return [dict(r) for r in con.execute(sql)]


def scan_rows(keys: AuditKeys, table: str, found: Iterable[dict[str, Any]], fernet: Any | None = None) -> list[Hit]:
    hits: list[Hit] = []
    for n, row in enumerate(found):
        for column, value in row.items():
            for label, blob in cell_forms(value, fernet):
                hits += keys.hits(f"{table}.{column} (row {n}){label}", blob)
    return hits


def scan_sqlite(keys: AuditKeys, db_path: Path, fernet: Any | None = None,
                tables: Iterable[str] | None = None) -> tuple[dict[str, int], list[Hit]]:
    """({table: rows scanned}, hits) over every column of every row of ``tables`` (default: all)."""
    counts: dict[str, int] = {}
    hits: list[Hit] = []
    for table in tables if tables is not None else table_names(db_path):
        found = rows(db_path, table)
        counts[table] = len(found)
        hits += scan_rows(keys, table, found, fernet)
    return counts, hits


class DbSampler:
    """Polls SQL queries against the metadata DB in a thread; keeps every distinct row seen.

    Read-only and brief (one SELECT per query per round) so Airflow's writers are not held up;
    a round that meets a locked database is skipped.
    """

    def __init__(self, db_path: Path, queries: dict[str, str], interval_s: float = 0.4) -> None:
        self.db_path, self.queries, self.interval_s = db_path, queries, interval_s
        self.seen: dict[str, dict[tuple, dict[str, Any]]] = {name: {} for name in queries}
        self.rounds = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-sampler", daemon=True)

    def start(self) -> DbSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.sample()  # a last look

    def sample(self) -> None:
        try:
            con = read_only(self.db_path, timeout=1.0)
        except sqlite3.Error:
            self.errors += 1
            return
        try:
            con.row_factory = sqlite3.Row
            for name, sql in self.queries.items():
                for row in con.execute(sql):
                    record = dict(row)
                    self.seen[name].setdefault(tuple(record.items()), record)
            self.rounds += 1
        except sqlite3.Error:
            self.errors += 1
        finally:
            con.close()

    def rows(self, name: str) -> list[dict[str, Any]]:
        return list(self.seen[name].values())

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()


# -- what the fake services received -----------------------------------------------------------


@dataclass
class TappedRequest:
    host: str
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body_found: set[str] = field(default_factory=set)  # connections whose key was in the body


class RequestTap:
    """ASGI middleware: records each HTTP request a fake received, then hands it on unchanged."""

    def __init__(self, app: Any, host: str, keys: AuditKeys, log: list[TappedRequest]) -> None:
        self.app, self.host, self.keys, self.log = app, host, keys, log

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        record = TappedRequest(
            host=self.host, method=scope.get("method", ""), path=scope.get("path", ""),
            query=(scope.get("query_string") or b"").decode("latin-1"),
            headers=[(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope.get("headers") or []],
        )
        self.log.append(record)
        # The whole body is read first (and replayed to the app), so it is checked even when
        # the app answers without reading it.
        body = bytearray()
        while True:
            message = await receive()
            if message.get("type") != "http.request":
                break
            body.extend(message.get("body") or b"")
            if not message.get("more_body"):
                break
        record.body_found = self.keys.found_in(bytes(body))
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """A SIGTERM (``timeout``, a CI cancel) raises SystemExit, so fixtures stop what they started."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
