"""The job queue shared by several engines: one PostgreSQL table, claims with ``FOR UPDATE SKIP LOCKED``.

Selected by ``CALLMINE_ENGINE_QUEUE_URL=postgresql://...`` (docs/engine-scaling.md). Same rows
as the SQLite store plus a lease: ``lease_owner`` (the engine instance holding the job) and
``lease_expires_at`` (database time, so the engines' clocks do not matter).

- **Claim**: one statement, its own transaction. The sub-select takes the oldest job that is
  queued, or processing under an expired lease, and locks it ``FOR UPDATE SKIP LOCKED``: a
  row another engine is claiming at that instant is skipped, not waited for, so concurrent
  claims never return the same job and never block one another. The UPDATE marks it
  processing, counts the attempt and sets the lease.
- **Lease**: the engine renews it (``renew``) every third of ``lease_s`` while the job runs
  (download, processing, publishing). An engine that dies stops renewing; once the lease
  expires the next claim anywhere takes the job again (attempt + 1), so a job claimed by a
  dead engine is re-queued without anyone restarting it. A restarted engine (same
  ``instance``) re-queues its own interrupted jobs at once (``requeue_interrupted``), and a
  graceful stop hands its jobs back (``release_claims``).
- **Fencing**: ``complete``/``fail``/``renew`` only touch the row while it is still
  ``processing`` under this engine's lease *and* the same attempt number. An engine whose
  lease expired (a long GC pause, a network partition) cannot overwrite the outcome of the
  engine that took the job over; it learns it lost the job and drops its work.
- **Wake-up**: every insert and re-queue sends ``NOTIFY callmine_engine_jobs``; each engine
  LISTENs on its own connection and wakes its idle slots, so an idle engine starts a job
  submitted to another one at once (polling every 2 s remains the fallback).
- ``callmine_engine_secrets`` holds the URL-signing (and default webhook) secret, created
  once by whichever engine starts first, so a signed URL minted by one engine verifies on
  every engine.

Connections: one per thread that uses the store (the event loop thread for the API's
reads, the engine's scheduling thread, the LISTEN thread), autocommit, re-opened when
broken. The schema is created at start under an advisory lock (engines starting together).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

from .store import DuplicateIdempotencyKey, JobRow, now_iso

log = logging.getLogger("callmine.engine.queue")

JOBS = "callmine_engine_jobs"
SECRETS = "callmine_engine_secrets"
CHANNEL = "callmine_engine_jobs"
_SCHEMA_LOCK = 0x63616C6C6D696E65  # pg_advisory_xact_lock key ("callmine")
_COLUMNS = ", ".join(f.name for f in dataclasses.fields(JobRow))
_CLAIMABLE = "status = 'queued' OR (status = 'processing' AND lease_expires_at < now())"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {JOBS} (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    audio_seconds DOUBLE PRECISION,
    result_bytes BIGINT,
    formats TEXT,
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ,
    CONSTRAINT {JOBS}_idempotency UNIQUE (owner, idempotency_key)
);
CREATE INDEX IF NOT EXISTS {JOBS}_claimable ON {JOBS} (seq) WHERE status IN ('queued', 'processing');
CREATE INDEX IF NOT EXISTS {JOBS}_owner ON {JOBS} (owner, seq);
CREATE TABLE IF NOT EXISTS {SECRETS} (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class PostgresJobStore:
    kind = "postgresql"
    remote = True
    shared = True

    def __init__(self, url: str, *, instance: str, lease_s: float = 60.0, connect_timeout_s: float = 10.0) -> None:
        import psycopg  # only a shared queue needs it
        from psycopg.rows import dict_row

        self._psycopg = psycopg
        self._row_factory = dict_row
        self.url = url
        self.instance = instance
        self.lease_s = float(lease_s)
        self._connect_timeout = max(1, int(connect_timeout_s))
        self._local = threading.local()
        self._all: list[Any] = []
        self._all_lock = threading.Lock()
        self._closed = False
        with self._conn().transaction():
            self._conn().execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            self._conn().execute(_SCHEMA)

    # --- connections --------------------------------------------------------------------

    def _connect(self) -> Any:
        # Defaults a URL may override: give up on a dead peer (partition, host gone) in about 30 s
        # instead of hanging a statement for the kernel's TCP timeout (minutes). The lease decides
        # what happens to the job meanwhile.
        params: dict[str, Any] = {"connect_timeout": self._connect_timeout, "keepalives": 1, "keepalives_idle": 10,
                                  "keepalives_interval": 5, "keepalives_count": 3, "tcp_user_timeout": 30_000,
                                  "application_name": f"callmine-engine {self.instance}"[:63]}
        given = self._psycopg.conninfo.conninfo_to_dict(self.url)
        conn = self._psycopg.connect(self.url, autocommit=True, row_factory=self._row_factory,
                                     **{k: v for k, v in params.items() if k not in given})
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            if self._closed:
                raise RuntimeError("the job store is closed")
            conn = self._local.conn = self._connect()
        return conn

    def _execute(self, sql: str, args: tuple[Any, ...] = (), *, retry: bool = False) -> Any:
        """A cursor after one autocommit statement. ``retry``: once more on a fresh connection when the
        thread's connection turned out to be dead (safe for reads only)."""
        try:
            return self._conn().execute(sql, args)
        except self._psycopg.OperationalError:
            conn = getattr(self._local, "conn", None)
            if not retry or conn is None or not (conn.closed or conn.broken):
                raise
            return self._conn().execute(sql, args)

    def _one(self, sql: str, args: tuple[Any, ...], *, retry: bool = False) -> JobRow | None:
        row = self._execute(sql, args, retry=retry).fetchone()
        return _job(row) if row is not None else None

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass

    # --- submit / read ------------------------------------------------------------------

    def insert(self, *, job_id: str, owner: str, options: dict[str, Any], audio_url: str | None,
               filename: str | None, audio_path: str | None, idempotency_key: str | None,
               fingerprint: str) -> JobRow:
        try:
            row = self._execute(
                f"INSERT INTO {JOBS} (job_id, owner, created_at, status, options, audio_url, filename, audio_path,"
                " idempotency_key, fingerprint) VALUES (%s, %s, %s, 'queued', %s, %s, %s, %s, %s, %s)"
                f" RETURNING {_COLUMNS}, pg_notify(%s, '') AS notified",
                (job_id, owner, now_iso(), json.dumps(options), audio_url, filename, audio_path, idempotency_key,
                 fingerprint, CHANNEL),
            ).fetchone()
        except self._psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name == f"{JOBS}_idempotency":
                raise DuplicateIdempotencyKey(idempotency_key) from None
            raise
        return _job(row)

    def get(self, job_id: str, owner: str | None = None) -> JobRow | None:
        if owner is None:
            return self._one(f"SELECT {_COLUMNS} FROM {JOBS} WHERE job_id = %s", (job_id,), retry=True)
        return self._one(f"SELECT {_COLUMNS} FROM {JOBS} WHERE job_id = %s AND owner = %s", (job_id, owner),
                         retry=True)

    def by_idempotency_key(self, owner: str, key: str) -> JobRow | None:
        return self._one(f"SELECT {_COLUMNS} FROM {JOBS} WHERE owner = %s AND idempotency_key = %s", (owner, key),
                         retry=True)

    def page(self, owner: str, limit: int, before_seq: int | None) -> tuple[list[JobRow], bool]:
        sql = f"SELECT {_COLUMNS} FROM {JOBS} WHERE owner = %s"
        args: tuple[Any, ...] = (owner,)
        if before_seq is not None:
            sql += " AND seq < %s"
            args += (before_seq,)
        sql += " ORDER BY seq DESC LIMIT %s"
        rows = self._execute(sql, args + (limit + 1,), retry=True).fetchall()
        jobs = [_job(row) for row in rows]
        return jobs[:limit], len(jobs) > limit

    def count_by_status(self) -> dict[str, int]:
        rows = self._execute(f"SELECT status, COUNT(*) AS n FROM {JOBS} GROUP BY status", retry=True).fetchall()
        return {row["status"]: row["n"] for row in rows}

    # --- scheduling ---------------------------------------------------------------------

    def claim_next(self) -> JobRow | None:
        """The oldest claimable job -> processing under this engine's lease, attempts + 1; None if none."""
        row = self._execute(
            f"UPDATE {JOBS} SET status = 'processing', attempts = attempts + 1, started_at = %s,"
            " lease_owner = %s, lease_expires_at = now() + make_interval(secs => %s)"
            f" WHERE seq = (SELECT seq FROM {JOBS} WHERE {_CLAIMABLE}"
            "               ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)"
            f" RETURNING {_COLUMNS}",
            (now_iso(), self.instance, self.lease_s),
        ).fetchone()
        return _job(row) if row is not None else None

    def renew(self, job_id: str, attempt: int) -> bool:
        """Extend this engine's lease; False when the job is no longer ours (expired and claimed, or ended)."""
        return 0 < self._execute(
            f"UPDATE {JOBS} SET lease_expires_at = now() + make_interval(secs => %s)"
            " WHERE job_id = %s AND status = 'processing' AND lease_owner = %s AND attempts = %s",
            (self.lease_s, job_id, self.instance, attempt),
        ).rowcount

    def _requeue(self, where: str, args: tuple[Any, ...]) -> int:
        rows = self._execute(
            f"UPDATE {JOBS} SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL"
            f" WHERE status = 'processing' AND ({where}) RETURNING job_id", args,
        ).fetchall()
        if rows:
            self._execute("SELECT pg_notify(%s, '')", (CHANNEL,))
        return len(rows)

    def requeue_interrupted(self) -> int:
        """At start: this instance's own jobs (its previous life died with them) and every expired lease."""
        return self._requeue("lease_owner = %s OR lease_expires_at < now()", (self.instance,))

    def requeue_expired(self) -> int:
        """Jobs whose engine stopped renewing their lease go back to the queue (status shows `queued` again)."""
        return self._requeue("lease_expires_at < now()", ())

    def release_claims(self) -> int:
        """On a graceful stop: hand this engine's jobs back at once (their attempt stays counted)."""
        return self._requeue("lease_owner = %s", (self.instance,))

    def _fenced(self, sets: str, args: tuple[Any, ...], job_id: str, attempt: int | None) -> bool:
        sql = f"UPDATE {JOBS} SET {sets}, lease_owner = NULL, lease_expires_at = NULL" \
              " WHERE job_id = %s AND status = 'processing' AND lease_owner = %s"
        fence: tuple[Any, ...] = (job_id, self.instance)
        if attempt is not None:
            sql += " AND attempts = %s"
            fence += (attempt,)
        return 0 < self._execute(sql, args + fence).rowcount

    def complete(self, job_id: str, audio_seconds: float, result_bytes: int, formats: list[str],
                 attempt: int | None = None) -> bool:
        return self._fenced(
            "status = 'completed', completed_at = %s, audio_seconds = %s, result_bytes = %s, formats = %s,"
            " audio_path = NULL, error = NULL",
            (now_iso(), audio_seconds, result_bytes, json.dumps(formats)), job_id, attempt,
        )

    def fail(self, job_id: str, code: str, message: str, attempt: int | None = None) -> bool:
        return self._fenced(
            "status = 'failed', completed_at = %s, audio_path = NULL, error = %s",
            (now_iso(), json.dumps({"code": code, "message": message})), job_id, attempt,
        )

    def set_audio_path(self, job_id: str, audio_path: str | None) -> None:
        self._execute(f"UPDATE {JOBS} SET audio_path = %s WHERE job_id = %s", (audio_path, job_id))

    # --- shared state -------------------------------------------------------------------

    def shared_secret(self, name: str) -> str:
        """The secret ``name`` every engine of this queue uses, created by the first one to ask."""
        self._execute(f"INSERT INTO {SECRETS} (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                      (name, secrets.token_hex(32)))
        return self._execute(f"SELECT value FROM {SECRETS} WHERE name = %s", (name,)).fetchone()["value"]

    def listen(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake()`` (from a thread) on every NOTIFY of the queue; returns a stopper."""
        stop = threading.Event()

        def run() -> None:
            backoff = 0.5
            while not stop.is_set():
                conn = None
                try:
                    conn = self._connect()
                    conn.execute(f"LISTEN {CHANNEL}")
                    backoff = 0.5
                    wake()  # anything queued while we were not listening
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=64):
                            wake()
                except Exception as exc:  # noqa: BLE001 - keep listening; polling covers the gap
                    if not stop.is_set():
                        log.warning("queue LISTEN connection lost (%s); retrying", type(exc).__name__)
                        stop.wait(backoff)
                        backoff = min(10.0, backoff * 2)
                finally:
                    if conn is not None:
                        try:
                            conn.close()
                        except Exception:  # noqa: BLE001
                            pass

        thread = threading.Thread(target=run, name="engine-queue-listen", daemon=True)
        thread.start()

        def stopper() -> None:
            stop.set()
            thread.join(timeout=3)

        return stopper


def _job(row: dict[str, Any]) -> JobRow:
    data = {name: row[name] for name in (f.name for f in dataclasses.fields(JobRow))}
    return JobRow.from_row(data)  # type: ignore[arg-type]
