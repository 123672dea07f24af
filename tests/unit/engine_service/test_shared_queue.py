"""Several engines, one PostgreSQL job queue, one storage folder (docs/engine-scaling.md).

Real processes: PostgreSQL from the Debian packages (tests/postgres_server.py) and
``python -m include.engine`` engines with their own worker processes. The test processor
(processors.transcribe_recorded) leaves one marker file per call, named after the job and
the engine, so "processed exactly once" is counted where the work happens, not inferred
from the API.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from include.engine.config import EngineConfig
from include.engine.storage import redact_url
from include.engine.store import DuplicateIdempotencyKey
from tests.postgres_server import PostgresServer, PostgresUnavailable, start_postgres
from tests.unit.engine_service.helpers import (
    JOBS, ROOT, EngineServer, engine_config, free_port, make_wav, upload, wait_done,
)
from tests.unit.engine_service.processors import PROCESSING_LOG_ENV

RECORDED = "tests.unit.engine_service.processors:transcribe_recorded"
KEY = "cm_shared_queue_key_0123456789"
OPTIONS = {"channel": False, "diarize": False, "numerals": False, "output_formats": ["json"], "webhook_url": None,
           "language": None, "speakers_expected": None, "model": "tiny.en"}


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    try:
        server = start_postgres(tmp_path_factory.mktemp("postgres"))
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL is not available here: {exc}")
    yield server
    server.stop()


_databases = iter(range(1_000_000))


@pytest.fixture
def queue_url(postgres: PostgresServer) -> str:
    """A fresh database per test: one queue, nothing left from another test."""
    return postgres.create_database(f"queue_{next(_databases)}")


# --- engines as processes -------------------------------------------------------------------


class Engine:
    def __init__(self, name: str, proc: subprocess.Popen[str], port: int, data_dir: Path) -> None:
        self.name, self.proc, self.port, self.data_dir = name, proc, port, data_dir
        self.base_url = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)


@contextmanager
def engines(tmp_path: Path, queue: str, *names: str, lease_s: float = 2.0, workers: int = 2,
            started: list[Engine] | None = None) -> Iterator[dict[str, Engine]]:
    """Start ``python -m include.engine`` per name, all on one queue and one storage folder."""
    running: dict[str, Engine] = {}
    try:
        for name in names:
            running[name] = start_engine(tmp_path, queue, name, lease_s=lease_s, workers=workers)
        yield running
    finally:
        for engine in list(running.values()) + (started or []):
            stop_engine(engine)


def start_engine(tmp_path: Path, queue: str, name: str, *, lease_s: float = 2.0, workers: int = 2) -> Engine:
    port, data_dir = free_port(), tmp_path / name
    log_dir = tmp_path / "processed"
    log_dir.mkdir(exist_ok=True)
    env = {**os.environ, "CALLMINE_ENGINE_PROCESSOR": RECORDED, "CALLMINE_ENGINE_WORKERS": str(workers),
           "CALLMINE_ENGINE_API_KEYS": KEY, "CALLMINE_ENGINE_RATE_LIMIT_RPS": "off",
           "CALLMINE_ENGINE_QUEUE_URL": queue, "CALLMINE_ENGINE_STORAGE_URL": str(tmp_path / "shared"),
           "CALLMINE_ENGINE_INSTANCE_ID": name, "CALLMINE_ENGINE_LEASE_S": str(lease_s),
           PROCESSING_LOG_ENV: str(log_dir)}
    stderr = open(tmp_path / f"{name}.log", "a")  # noqa: SIM115 - the engine's log, for a failing test
    proc = subprocess.Popen(
        [sys.executable, "-m", "include.engine", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
    )
    stderr.close()
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "ready" in line, f"{name}: no ready line, got {line!r}; log: {(tmp_path / f'{name}.log').read_text()}"
    assert f"instance={name}" in line and "queue=postgresql://" in line
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # never let a full pipe block it
    return Engine(name, proc, port, data_dir)


def stop_engine(engine: Engine) -> None:
    engine.client.close()
    if engine.proc.poll() is None:
        engine.proc.kill()
        engine.proc.wait(timeout=10)


def processed(tmp_path: Path) -> list[tuple[str, str]]:
    """(job id, engine) per processor call so far."""
    folder = tmp_path / "processed"
    return [tuple(p.name.split(".")[:2]) for p in sorted(folder.iterdir())] if folder.exists() else []  # type: ignore[misc]


def engine_logs(tmp_path: Path) -> str:
    """The engines' stderr, for an assertion message."""
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(tmp_path.glob("*.log")))


def wait_until(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# --- two engines, one queue -----------------------------------------------------------------


def test_two_engines_share_one_queue_and_process_each_job_exactly_once(tmp_path: Path, queue_url: str) -> None:
    with engines(tmp_path, queue_url, "engine-a", "engine-b", lease_s=2.5) as running:
        a, b = running["engine-a"], running["engine-b"]
        # A job longer than the lease: its engine's renewals must keep the other engine off it.
        long_job = upload(a.client, make_wav(1.0, seed=99), filename="sleep-5000ms.wav").json()["job_id"]
        submitted: dict[str, str] = {long_job: "engine-a"}
        for i in range(30):  # most to A: B can only get them through the shared queue and storage
            engine = b if i % 5 == 4 else a
            job = upload(engine.client, make_wav(1.0, seed=i), filename=f"sleep-150ms-{i}.wav").json()
            submitted[job["job_id"]] = engine.name
        subtitles = upload(a.client, make_wav(2.0, seed=200), filename="subs.wav", output_formats="srt").json()["job_id"]
        submitted[subtitles] = "engine-a"

        for job_id, via in submitted.items():
            other = b if via == "engine-a" else a  # read it from the engine it was NOT submitted to
            body = wait_done(other.client, job_id, timeout_s=30).json()
            assert body["status"] == "completed" and body["attempts"] == 1, (body, engine_logs(tmp_path))

        calls = processed(tmp_path)
        per_job = Counter(job_id for job_id, _ in calls)
        assert per_job == Counter({job_id: 1 for job_id in submitted}), "a job was processed twice or never"
        by_engine = {job_id: engine for job_id, engine in calls}
        assert set(by_engine.values()) == {"engine-a", "engine-b"}, Counter(by_engine.values())
        assert any(by_engine[j] == "engine-b" and via == "engine-a" for j, via in submitted.items()), \
            "engine B never processed an upload made to engine A"

        # Results (and their signed URLs) are the same from either engine.
        for job_id in list(submitted)[:6] + [subtitles]:
            from_a, from_b = a.client.get(f"{JOBS}/{job_id}").json(), b.client.get(f"{JOBS}/{job_id}").json()
            assert from_a["result"]["segments"] == from_b["result"]["segments"]
            assert from_a["result"]["audio_seconds"] == pytest.approx(1.0 if job_id != subtitles else 2.0)
        srt_url = a.client.get(f"{JOBS}/{subtitles}").json()["result"]["formats"]["srt"]
        assert srt_url.startswith(a.base_url)
        path = urlsplit(srt_url)
        signed = f"{path.path}?{path.query}"  # minted by A, verified by B: one signing secret for the queue
        srt_a, srt_b = httpx.get(a.base_url + signed, timeout=10), httpx.get(b.base_url + signed, timeout=10)
        assert srt_a.status_code == srt_b.status_code == 200 and srt_a.text == srt_b.text
        assert "segment 1" in srt_b.text

        # One tenant across engines; uploads deleted once processed; results kept in the shared storage.
        listed = b.client.get(JOBS, params={"limit": 100}).json()["data"]
        assert {j["job_id"] for j in listed} == set(submitted)
        shared = tmp_path / "shared"
        assert not list((shared / "audio").iterdir())
        assert {p.name for p in (shared / "results").iterdir()} == set(submitted)
        health = b.client.get("/healthz").json()
        assert health["queue"] == "postgresql" and health["instance"] == "engine-b"
        assert health["jobs"] == {"completed": len(submitted)}


def test_a_killed_engines_job_is_taken_over_by_the_other_once_its_lease_expires(
        tmp_path: Path, queue_url: str) -> None:
    with engines(tmp_path, queue_url, "engine-a", lease_s=1.5) as running:
        a = running["engine-a"]
        job_id = upload(a.client, make_wav(1.0), filename="sleep-2500ms.wav").json()["job_id"]
        wait_until(lambda: processed(tmp_path), 15, "engine A to start the job")
        a.proc.send_signal(signal.SIGKILL)  # no graceful stop: the lease is all that is left of A
        a.proc.wait(timeout=10)
        killed_at = time.monotonic()
        running["engine-b"] = b = start_engine(tmp_path, queue_url, "engine-b", lease_s=1.5)
        body = wait_done(b.client, job_id, timeout_s=20).json()
        assert body["status"] == "completed" and body["attempts"] == 2, (body, engine_logs(tmp_path))
        assert [engine for _, engine in processed(tmp_path)] == ["engine-a", "engine-b"], engine_logs(tmp_path)
        assert time.monotonic() - killed_at < 15
        time.sleep(1.0)  # A's worker would have finished its 2.5 s by now had it outlived A
        assert not any((a.data_dir / "work").glob("*/result.json")), "engine A's orphaned worker kept running"
        assert body["result"]["audio_seconds"] == pytest.approx(1.0)


def test_a_stopping_engine_hands_its_job_back_at_once(tmp_path: Path, queue_url: str) -> None:
    with engines(tmp_path, queue_url, "engine-a", lease_s=60.0) as running:
        a = running["engine-a"]
        # Busy for 30 s on A (it must still be running when A stops), quick on B.
        job_id = upload(a.client, make_wav(1.0), filename="hold-on-engine-a-30000ms.wav").json()["job_id"]
        wait_until(lambda: processed(tmp_path), 15, "engine A to start the job")
        running["engine-b"] = b = start_engine(tmp_path, queue_url, "engine-b", lease_s=60.0)
        a.proc.send_signal(signal.SIGTERM)
        assert a.proc.wait(timeout=20) in (0, -signal.SIGTERM), engine_logs(tmp_path)
        stopped_at = time.monotonic()
        body = wait_done(b.client, job_id, timeout_s=20).json()
        assert body["status"] == "completed" and body["attempts"] == 2, (body, engine_logs(tmp_path))
        assert time.monotonic() - stopped_at < 15  # far less than the 60 s lease: handed back, not expired
        assert [engine for _, engine in processed(tmp_path)] == ["engine-a", "engine-b"], engine_logs(tmp_path)


# --- the queue itself ---------------------------------------------------------------------


def _store(url: str, instance: str, lease_s: float = 30.0):  # type: ignore[no-untyped-def]
    from include.engine.pg_store import PostgresJobStore

    return PostgresJobStore(url, instance=instance, lease_s=lease_s)


def _insert(store, job_id: str, key: str | None = None, owner: str = "tenant_x"):  # type: ignore[no-untyped-def]
    return store.insert(job_id=job_id, owner=owner, options=OPTIONS, audio_url="file:///x.wav", filename=None,
                        audio_path=None, idempotency_key=key, fingerprint="f")


def test_concurrent_claims_hand_out_every_job_exactly_once(queue_url: str) -> None:
    stores = [_store(queue_url, f"engine-{i}") for i in range(6)]
    try:
        jobs = {f"job_{i:024x}" for i in range(300)}
        for job_id in sorted(jobs):
            _insert(stores[0], job_id)
        claimed: dict[str, list[str]] = {s.instance: [] for s in stores}
        start = threading.Barrier(len(stores))

        def drain(store) -> None:  # type: ignore[no-untyped-def]
            start.wait()
            while (job := store.claim_next()) is not None:
                claimed[store.instance].append(job.job_id)
                assert store.complete(job.job_id, 1.0, 10, [], job.attempts)

        threads = [threading.Thread(target=drain, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        every = [job_id for ids in claimed.values() for job_id in ids]
        assert sorted(every) == sorted(jobs)  # all of them, none twice
        assert sum(1 for ids in claimed.values() if ids) >= 2
        assert stores[0].count_by_status() == {"completed": 300}
    finally:
        for store in stores:
            store.close()


def test_an_expired_lease_moves_the_job_and_fences_the_old_claim(queue_url: str) -> None:
    a, b = _store(queue_url, "engine-a", lease_s=1.0), _store(queue_url, "engine-b", lease_s=1.0)
    try:
        _insert(a, "job_fenced")
        first = a.claim_next()
        assert first is not None and first.attempts == 1
        assert b.claim_next() is None  # leased: not claimable
        assert a.renew("job_fenced", 1)
        time.sleep(1.2)  # A stops renewing (a pause, a partition, a death)
        second = b.claim_next()
        assert second is not None and second.job_id == "job_fenced" and second.attempts == 2
        assert not a.renew("job_fenced", 1)  # A learns it lost the job...
        assert not a.complete("job_fenced", 1.0, 10, [], 1)  # ...and cannot record an outcome over B's
        assert not a.fail("job_fenced", "processing_failed", "late", 1)
        assert b.complete("job_fenced", 2.0, 20, ["srt"], 2)
        row = a.get("job_fenced")
        assert row is not None and row.status == "completed" and row.audio_seconds == 2.0 and row.attempts == 2
    finally:
        a.close()
        b.close()


def test_restart_release_and_reaper_requeue_only_what_they_should(queue_url: str) -> None:
    a, b = _store(queue_url, "engine-a", lease_s=30.0), _store(queue_url, "engine-b", lease_s=1.0)
    try:
        for job_id in ("job_a", "job_b"):
            _insert(a, job_id)
        assert a.claim_next().job_id == "job_a"  # type: ignore[union-attr]
        assert b.claim_next().job_id == "job_b"  # type: ignore[union-attr]
        assert b.requeue_interrupted() == 1  # b "restarted": its own job only, not A's live one
        assert a.get("job_a").status == "processing" and a.get("job_b").status == "queued"  # type: ignore[union-attr]
        assert b.claim_next().job_id == "job_b"  # type: ignore[union-attr]
        time.sleep(1.2)
        assert a.requeue_expired() == 1 and a.get("job_b").status == "queued"  # type: ignore[union-attr]
        assert a.release_claims() == 1 and a.get("job_a").status == "queued"  # type: ignore[union-attr]
        assert a.get("job_a").attempts == 1  # type: ignore[union-attr]
    finally:
        a.close()
        b.close()


def test_idempotency_keys_and_secrets_are_shared_by_the_engines(queue_url: str) -> None:
    a, b = _store(queue_url, "engine-a"), _store(queue_url, "engine-b")
    try:
        _insert(a, "job_first", key="same-key")
        with pytest.raises(DuplicateIdempotencyKey):
            _insert(b, "job_second", key="same-key")
        _insert(b, "job_other_tenant", key="same-key", owner="tenant_y")  # keys are per tenant
        assert a.by_idempotency_key("tenant_x", "same-key").job_id == "job_first"  # type: ignore[union-attr]
        assert a.shared_secret("url_signing") == b.shared_secret("url_signing")
        assert a.shared_secret("url_signing") != a.shared_secret("webhook")
        rows, more = b.page("tenant_x", 10, None)
        assert [r.job_id for r in rows] == ["job_first"] and not more
    finally:
        a.close()
        b.close()


# --- configuration --------------------------------------------------------------------------


def test_a_shared_queue_needs_shared_storage_and_a_postgresql_url(tmp_path: Path) -> None:
    base = EngineConfig(data_dir=tmp_path)
    assert base.exposure_problem() is None  # the default: SQLite, data dir
    no_storage = EngineConfig(data_dir=tmp_path, queue_url="postgresql://engine@db/callmine")
    assert "needs CALLMINE_ENGINE_STORAGE_URL" in (no_storage.exposure_problem() or "")
    wrong = EngineConfig(data_dir=tmp_path, queue_url="redis://cache:6379/0", storage_url=str(tmp_path))
    assert "must be a PostgreSQL URL" in (wrong.exposure_problem() or "")
    config = EngineConfig.from_env({"CALLMINE_ENGINE_QUEUE_URL": "postgresql://e:pw@db/q",
                                    "CALLMINE_ENGINE_STORAGE_URL": "s3://bucket/engine",
                                    "CALLMINE_ENGINE_INSTANCE_ID": "engine-7", "CALLMINE_ENGINE_LEASE_S": "45"})
    assert (config.queue_url, config.storage_url, config.instance_id_in_force(), config.lease_s) == (
        "postgresql://e:pw@db/q", "s3://bucket/engine", "engine-7", 45.0)
    assert config.exposure_problem() is None
    assert redact_url(config.queue_url or "") == "postgresql://e:***@db/q"
    shared_dir = EngineConfig(data_dir=tmp_path / "d", storage_url=str(tmp_path / "shared"))
    assert shared_dir.private_dirs() == (tmp_path / "d", tmp_path / "shared")


def test_a_password_never_reaches_the_ready_line(tmp_path: Path, postgres: PostgresServer) -> None:
    url = postgres.create_database("queue_password").replace("postgres@", "postgres:not-a-real-secret@")
    engine = start_engine(tmp_path, url, "engine-p")  # trust auth: the password is ignored by the server
    try:
        assert engine.client.get("/healthz").json()["queue"] == "postgresql"
    finally:
        stop_engine(engine)
    assert "not-a-real-secret" not in (tmp_path / "engine-p.log").read_text()


# --- an object store (fsspec) for uploads and results -------------------------------------


def test_fsspec_storage_holds_uploads_and_results(tmp_path: Path) -> None:
    """One engine whose storage is an fsspec URL (memory://, in the engine's process; s3:// works the same)."""
    import fsspec

    fs = fsspec.filesystem("memory")
    config = engine_config(tmp_path / "data", api_keys=(), workers=1, storage_url="memory://engine-objects")
    with EngineServer(config) as server, server.client(None) as c:
        job_id = upload(c, make_wav(2.0), filename="sleep-300ms.wav", output_formats="json,vtt").json()["job_id"]
        uploaded = fs.ls("/engine-objects/audio", detail=False)
        assert any(job_id in name for name in uploaded)  # the upload went to the object store
        body = wait_done(c, job_id).json()
        assert body["status"] == "completed" and body["result"]["audio_seconds"] == pytest.approx(2.0)
        vtt = httpx.get(body["result"]["formats"]["vtt"], timeout=10)
        assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    objects = set(fs.ls(f"/engine-objects/results/{job_id}", detail=False))
    assert {Path(o).name for o in objects} == {"result.json", "result.vtt"}
    assert not [n for n in fs.ls("/engine-objects/audio", detail=False) if job_id in n]  # input deleted
    assert not list((tmp_path / "data" / "audio").glob(f"{job_id}*"))  # and its local copy
    assert not (tmp_path / "data" / "results" / job_id).exists()  # results live in the store only
