"""Attack: one key reading another key's jobs (by id, by listing, by idempotency key)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.unit.engine_service.helpers import JOBS, NO_AUTH, EngineServer, engine_config, make_wav, upload, wait_done
from tests.unit.engine_service.security_helpers import KEY_A, KEY_B, assert_no_leak


def test_tenant_b_cannot_read_or_list_tenant_a_jobs(tmp_path: Path) -> None:
    config = engine_config(tmp_path / "engine", api_keys=(KEY_A, KEY_B), workers=1)
    with EngineServer(config) as server, server.client(KEY_A) as a, server.client(KEY_B) as b:
        job = upload(a, make_wav(2.0), filename="a-private-call.wav", headers={"Idempotency-Key": "same-key"}).json()
        job_id = job["job_id"]
        done = wait_done(a, job_id).json()
        assert done["status"] == "completed" and done["result"]["text"] == "segment 0 segment 1"

        by_id = b.get(f"{JOBS}/{job_id}")
        unknown = b.get(f"{JOBS}/job_000000000000000000000000")
        assert by_id.status_code == unknown.status_code == 404
        # Indistinguishable from a job that does not exist (same text but for the id).
        assert by_id.json()["detail"].replace(job_id, "ID") == unknown.json()["detail"].replace(
            "job_000000000000000000000000", "ID")
        listed = b.get(JOBS, params={"limit": 100})
        assert listed.status_code == 200 and listed.json()["data"] == []
        for response in (by_id, listed):
            assert_no_leak(response.text, "a-private-call", "segment 0", done["created_at"])

        # The same Idempotency-Key under B is B's own: no replay of (or conflict with) A's job.
        mine = upload(b, make_wav(1.0), filename="b.wav", headers={"Idempotency-Key": "same-key"})
        assert mine.status_code == 202 and mine.json()["job_id"] != job_id
        assert "idempotent-replayed" not in mine.headers
        assert [j["job_id"] for j in a.get(JOBS).json()["data"]] == [job_id]

        # The owner still sees it; its signed result URL (a capability) works without a key.
        assert a.get(f"{JOBS}/{job_id}").status_code == 200


def test_the_store_keeps_an_opaque_owner_never_the_key(tmp_path: Path) -> None:
    config = engine_config(tmp_path / "engine", api_keys=(KEY_A,), workers=1)
    with EngineServer(config) as server, server.client(KEY_A) as a:
        upload(a)
    with sqlite3.connect(config.data_dir / "engine.sqlite3") as db:
        owners = {row[0] for row in db.execute("SELECT owner FROM jobs")}
    assert len(owners) == 1 and owners.pop().startswith("key_")
    for path in config.data_dir.rglob("*"):
        if path.is_file():
            assert KEY_A.encode() not in path.read_bytes(), path


def test_signed_urls_cannot_be_forged_from_a_job_id(tmp_path: Path) -> None:
    config = engine_config(tmp_path / "engine", api_keys=(KEY_A,), workers=1, offload_over_bytes=10)
    with EngineServer(config) as server, server.client(KEY_A) as a:
        job_id = upload(a).json()["job_id"]
        assert wait_done(a, job_id).json()["status"] == "completed"
        for query in ("", "?expires=9999999999", "?expires=9999999999&sig=" + "0" * 64):
            response = NO_AUTH.get(f"{server.base_url}/v1/signed/result/{job_id}{query}")
            assert response.status_code == 403
            assert_no_leak(response.text, "segment 0")


def test_the_open_local_mode_keeps_one_shared_principal(tmp_path: Path) -> None:
    config = engine_config(tmp_path / "engine", api_keys=(), workers=1)
    with EngineServer(config) as server, server.client(None) as one, server.client(None) as other:
        job_id = upload(one).json()["job_id"]
        assert other.get(f"{JOBS}/{job_id}").status_code == 200
        assert other.get("/v1/me").json()["key_id"] == "anonymous"
