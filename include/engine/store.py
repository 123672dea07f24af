"""Durable job state: one SQLite database (WAL) in the data dir.

Used from the event loop thread only; every statement is a short indexed lookup, so it is
called synchronously (which also makes idempotency check-and-insert atomic on the loop).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


class JobStore:
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
        self._exec(
            "INSERT INTO jobs (job_id, owner, created_at, status, options, audio_url, filename, audio_path,"
            " idempotency_key, fingerprint) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
            (job_id, owner, now_iso(), json.dumps(options), audio_url, filename, audio_path, idempotency_key,
             fingerprint),
        )
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

    def complete(self, job_id: str, audio_seconds: float, result_bytes: int, formats: list[str]) -> None:
        self._exec(
            "UPDATE jobs SET status = 'completed', completed_at = ?, audio_seconds = ?, result_bytes = ?,"
            " formats = ?, audio_path = NULL, error = NULL WHERE job_id = ?",
            (now_iso(), audio_seconds, result_bytes, json.dumps(formats), job_id),
        )

    def fail(self, job_id: str, code: str, message: str) -> None:
        self._exec(
            "UPDATE jobs SET status = 'failed', completed_at = ?, audio_path = NULL, error = ? WHERE job_id = ?",
            (now_iso(), json.dumps({"code": code, "message": message}), job_id),
        )

    def set_audio_path(self, job_id: str, audio_path: str | None) -> None:
        self._exec("UPDATE jobs SET audio_path = ? WHERE job_id = ?", (audio_path, job_id))

    def count_by_status(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {status: count for status, count in rows}
