"""Durable job state. The default: one SQLite database (WAL) in the data dir, for one engine.

The SQLite store is used from the event loop thread only; every statement is a short indexed
lookup, so it is called synchronously (which also makes idempotency check-and-insert atomic
on the loop).

``JobStore`` (SQLite) and ``pg_store.PostgresJobStore`` (a queue shared by several engines,
``CALLMINE_ENGINE_QUEUE_URL``) implement the same ``Store`` protocol; ``open_store`` picks
one from the configuration. The shared store adds leases (a claim expires unless its engine
renews it) and fences every outcome with the claim (engine + attempt number); on SQLite,
where one engine owns the database, those are no-ops.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from .config import EngineConfig

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,
    options TEXT NOT NULL,
    audio_url TEXT,
    filename TEXT,
    audio_path TEXT,
    idempotency_key TEXT,
    fingerprint TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at TEXT,
    completed_at TEXT,
    error TEXT,
    audio_seconds REAL,
    result_bytes INTEGER,
    formats TEXT,
    UNIQUE (owner, idempotency_key)
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, seq);
"""

TERMINAL = ("completed", "failed", "cancelled")


class DuplicateIdempotencyKey(Exception):
    """insert(): the tenant already has a job with this Idempotency-Key (a concurrent submit won)."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_job_id() -> str:
    return "job_" + secrets.token_hex(12)


@dataclass(slots=True)
class JobRow:
    seq: int
    job_id: str
    owner: str
    created_at: str
    status: str
    options: dict[str, Any]
    audio_url: str | None
    filename: str | None
    audio_path: str | None
    idempotency_key: str | None
    fingerprint: str | None
    attempts: int
    started_at: str | None
    completed_at: str | None
    error: dict[str, str] | None
    audio_seconds: float | None
    result_bytes: int | None
    formats: list[str]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRow:
        data = dict(row)
        data["options"] = json.loads(data["options"])
        data["error"] = json.loads(data["error"]) if data["error"] else None
        data["formats"] = json.loads(data["formats"]) if data["formats"] else []
        return cls(**data)


class Store(Protocol):
    """What the engine needs of its job store (SQLite ``JobStore``, PostgreSQL ``PostgresJobStore``)."""

    kind: str  # "sqlite" | "postgresql"
    remote: bool  # statements cross the network: the engine runs its scheduling calls off the event loop
    shared: bool  # several engines use it: secrets come from it, leases expire, outcomes are fenced
    lease_s: float | None  # a claim's lifetime unless renewed; None = no leases (one engine)

    def close(self) -> None: ...
    def insert(self, *, job_id: str, owner: str, options: dict[str, Any], audio_url: str | None,
               filename: str | None, audio_path: str | None, idempotency_key: str | None,
               fingerprint: str) -> JobRow: ...
    def get(self, job_id: str, owner: str | None = None) -> JobRow | None: ...
    def by_idempotency_key(self, owner: str, key: str) -> JobRow | None: ...
    def page(self, owner: str, limit: int, before_seq: int | None) -> tuple[list[JobRow], bool]: ...
    def requeue_interrupted(self) -> int: ...
    def requeue_expired(self) -> int: ...
    def release_claims(self) -> int: ...
    def claim_next(self) -> JobRow | None: ...
    def renew(self, job_id: str, attempt: int) -> bool: ...
    def complete(self, job_id: str, audio_seconds: float, result_bytes: int, formats: list[str],
                 attempt: int | None = None) -> bool: ...
    def fail(self, job_id: str, code: str, message: str, attempt: int | None = None) -> bool: ...
    def set_audio_path(self, job_id: str, audio_path: str | None) -> None: ...
    def count_by_status(self) -> dict[str, int]: ...
    def shared_secret(self, name: str) -> str | None: ...
    def listen(self, wake: Callable[[], None]) -> Callable[[], None] | None: ...


def open_store(config: EngineConfig) -> Store:
    """PostgreSQL when ``queue_url`` is set (several engines), else SQLite in the data dir."""
    if config.queue_url:
        from .pg_store import PostgresJobStore  # psycopg is only needed for a shared queue

        return PostgresJobStore(config.queue_url, instance=config.instance_id_in_force(), lease_s=config.lease_s)
    return JobStore(config.data_dir / "engine.sqlite3")


class JobStore:
    """The single-engine store: SQLite in the data dir; a start re-queues whatever was `processing`."""

    kind = "sqlite"
    remote = False
    shared = False
    lease_s = None

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args: tuple[Any, ...]) -> JobRow | None:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return JobRow.from_row(row) if row is not None else None

    def _exec(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # --- submit / read ------------------------------------------------------------------

    def insert(
        self,
        *,
        job_id: str,
        owner: str,
        options: dict[str, Any],
        audio_url: str | None,
        filename: str | None,
        audio_path: str | None,
        idempotency_key: str | None,
        fingerprint: str,
    ) -> JobRow:
        try:
            self._exec(
                "INSERT INTO jobs (job_id, owner, created_at, status, options, audio_url, filename, audio_path,"
                " idempotency_key, fingerprint) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                (job_id, owner, now_iso(), json.dumps(options), audio_url, filename, audio_path, idempotency_key,
                 fingerprint),
            )
        except sqlite3.IntegrityError:
            if idempotency_key is not None and self.by_idempotency_key(owner, idempotency_key) is not None:
                raise DuplicateIdempotencyKey(idempotency_key) from None
            raise
        row = self.get(job_id)
        assert row is not None
        return row

    def get(self, job_id: str, owner: str | None = None) -> JobRow | None:
        if owner is None:
            return self._one("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        return self._one("SELECT * FROM jobs WHERE job_id = ? AND owner = ?", (job_id, owner))

    def by_idempotency_key(self, owner: str, key: str) -> JobRow | None:
        return self._one("SELECT * FROM jobs WHERE owner = ? AND idempotency_key = ?", (owner, key))

    def page(self, owner: str, limit: int, before_seq: int | None) -> tuple[list[JobRow], bool]:
        """Newest first; (rows, has_more)."""
        sql = "SELECT * FROM jobs WHERE owner = ?"
        args: tuple[Any, ...] = (owner,)
        if before_seq is not None:
            sql += " AND seq < ?"
            args += (before_seq,)
        sql += " ORDER BY seq DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, args + (limit + 1,)).fetchall()
        jobs = [JobRow.from_row(row) for row in rows]
        return jobs[:limit], len(jobs) > limit

    # --- scheduling ---------------------------------------------------------------------

    def requeue_interrupted(self) -> int:
        """At start: jobs left `processing` by a stopped service go back to the queue."""
        return self._exec("UPDATE jobs SET status = 'queued' WHERE status = 'processing'", ())

    def claim_next(self) -> JobRow | None:
        """Oldest queued job -> processing, attempts + 1. Atomic (single UPDATE under the lock)."""
        with self._lock:
            row = self._db.execute(
                "UPDATE jobs SET status = 'processing', attempts = attempts + 1, started_at = ?"
                " WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1)"
                " RETURNING *",
                (now_iso(),),
            ).fetchone()
        return JobRow.from_row(row) if row is not None else None

    def requeue_expired(self) -> int:
        return 0  # no leases: one engine owns the database

    def release_claims(self) -> int:
        return 0  # a stop leaves its jobs `processing`; the next start re-queues them

    def renew(self, job_id: str, attempt: int) -> bool:
        return True

    def shared_secret(self, name: str) -> str | None:
        return None  # secrets are files in the data dir

    def listen(self, wake: Callable[[], None]) -> Callable[[], None] | None:
        return None  # submits wake the slots directly

    def complete(self, job_id: str, audio_seconds: float, result_bytes: int, formats: list[str],
                 attempt: int | None = None) -> bool:
        return 0 < self._exec(
            "UPDATE jobs SET status = 'completed', completed_at = ?, audio_seconds = ?, result_bytes = ?,"
            " formats = ?, audio_path = NULL, error = NULL WHERE job_id = ?",
            (now_iso(), audio_seconds, result_bytes, json.dumps(formats), job_id),
        )

    def fail(self, job_id: str, code: str, message: str, attempt: int | None = None) -> bool:
        return 0 < self._exec(
            "UPDATE jobs SET status = 'failed', completed_at = ?, audio_path = NULL, error = ? WHERE job_id = ?",
            (now_iso(), json.dumps({"code": code, "message": message}), job_id),
        )

    def set_audio_path(self, job_id: str, audio_path: str | None) -> None:
        self._exec("UPDATE jobs SET audio_path = ? WHERE job_id = ?", (audio_path, job_id))

    def count_by_status(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {status: count for status, count in rows}
