"""Attacks on authentication: no key, exposure without keys, key rotation, request floods."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from include.engine.auth import RateLimiter, parse_key_file
from include.engine.config import EngineConfig, is_loopback_host, parse_args
from tests.unit.engine_service.helpers import JOBS, NO_AUTH, EngineServer, engine_config, free_port, make_wav, upload, wait_done
from tests.unit.engine_service.security_helpers import (
    KEY_A, KEY_B, assert_no_leak, engine_cli, engine_env, port_is_open, run_engine,
)

OPENAI = "/v1/audio/transcriptions"


def _write_keys(path: Path, text: str) -> None:
    """Atomic replace, as docs/security.md tells operators to rotate."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# --- unauthenticated access when keys are set ------------------------------------------------


def test_without_a_valid_key_nothing_is_served_and_nothing_is_created(tmp_path: Path) -> None:
    config = engine_config(tmp_path / "engine", api_keys=(KEY_A,), workers=1)
    with EngineServer(config) as server, server.client(KEY_A) as owner:
        job = upload(owner, make_wav(1.0), filename="confidential-call.wav").json()
        assert wait_done(owner, job["job_id"]).json()["status"] == "completed"
        audio_files = sorted((config.data_dir / "audio").iterdir())
        for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789"}, {"x-api-key": KEY_A[:-1]},
                        {"Authorization": f"Basic {KEY_A}"}):
            attempts = [
                NO_AUTH.get(f"{server.base_url}{JOBS}", headers=headers),
                NO_AUTH.get(f"{server.base_url}{JOBS}/{job['job_id']}", headers=headers),
                NO_AUTH.get(f"{server.base_url}/v1/me", headers=headers),
                NO_AUTH.post(f"{server.base_url}{JOBS}", headers=headers, json={"audio_url": "https://example.com/a.wav"}),
                NO_AUTH.post(f"{server.base_url}{JOBS}", headers=headers, files={"audio": ("x.wav", make_wav(), "audio/wav")}),
                NO_AUTH.post(f"{server.base_url}{OPENAI}", headers=headers, files={"file": ("x.wav", make_wav(), "audio/wav")}),
            ]
            for response in attempts:
                assert response.status_code == 401, (headers, response.text)
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert_no_leak(response.text, job["job_id"], "confidential-call", "segment 0", "wrong-key", KEY_A)
        # The refused submissions created no job and wrote no audio.
        assert [j["job_id"] for j in owner.get(JOBS).json()["data"]] == [job["job_id"]]
        assert sorted((config.data_dir / "audio").iterdir()) == audio_files


# --- exposure: a non-loopback address needs keys ----------------------------------------------


def test_starting_on_all_interfaces_without_keys_is_refused(tmp_path: Path) -> None:
    port = free_port()
    result = run_engine(tmp_path / "data", host="0.0.0.0", port=port, env=engine_env(CALLMINE_ENGINE_API_KEYS=""))
    assert result.returncode == 2
    assert "refusing to listen on '0.0.0.0' without an API key" in result.stderr
    assert "--insecure-open" in result.stderr
    assert "ready" not in result.stdout
    assert not port_is_open(port)
    assert not (tmp_path / "data").exists()  # refused before creating anything


def test_insecure_open_starts_on_all_interfaces_and_says_so_loudly(tmp_path: Path) -> None:
    env = engine_env(CALLMINE_ENGINE_API_KEYS="")
    with engine_cli(tmp_path / "data", "--insecure-open", host="0.0.0.0", env=env) as engine:
        assert "INSECURE" in engine.ready_line
        assert httpx.get(engine.base_url + "/v1/me", timeout=10).json()["key_id"] == "anonymous"
        stderr = engine.stderr()
    assert "INSECURE: the engine is OPEN (no API key) on a non-loopback address" in stderr


def test_starting_on_all_interfaces_with_a_key_file_is_fine(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# callmine\npipeline {KEY_A}\n")
    env = engine_env(CALLMINE_ENGINE_API_KEYS="", CALLMINE_ENGINE_API_KEY_FILE=str(keys))
    with engine_cli(tmp_path / "data", host="0.0.0.0", env=env) as engine:
        assert "1 API key(s)" in engine.ready_line
        assert httpx.get(engine.base_url + "/v1/me", timeout=10).status_code == 401
        me = httpx.get(engine.base_url + "/v1/me", headers={"x-api-key": KEY_A}, timeout=10)
        assert me.status_code == 200 and KEY_A not in me.text
        assert KEY_A not in engine.ready_line + engine.stderr()


def test_an_unreadable_or_malformed_key_file_stops_the_start(tmp_path: Path) -> None:
    missing = run_engine(tmp_path / "d1", "--api-key-file", str(tmp_path / "nope"))
    assert missing.returncode != 0 and "cannot read the API key file" in missing.stderr
    bad = tmp_path / "bad"
    bad.write_text(f"a b {KEY_A}\n")
    malformed = run_engine(tmp_path / "d2", "--api-key-file", str(bad))
    assert malformed.returncode != 0 and "line 1: expected 'KEY' or 'TENANT KEY'" in malformed.stderr
    assert KEY_A not in malformed.stderr + malformed.stdout


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                                ("0.0.0.0", False), ("", False), ("engine", False),
                                                ("192.168.1.5", False)])
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
    problem = EngineConfig(host=host).exposure_problem()
    assert (problem is None) is loopback


# --- key rotation via the key file, no restart ---------------------------------------------------


def test_keys_rotate_through_the_key_file_without_a_restart(tmp_path: Path) -> None:
    keys = tmp_path / "api-keys"
    _write_keys(keys, f"pipeline {KEY_A}\n")
    config = engine_config(tmp_path / "engine", api_keys=(), api_key_file=keys, workers=1)
    with EngineServer(config) as server, server.client(KEY_A) as old, server.client(KEY_B) as new:
        job = upload(old, filename="before-rotation.wav").json()["job_id"]
        assert new.get("/v1/me").status_code == 401
        # Overlap: both keys of tenant "pipeline" are valid; the new one sees the old one's jobs.
        _write_keys(keys, f"pipeline {KEY_A}\npipeline {KEY_B}\n")
        assert old.get("/v1/me").status_code == 200
        assert new.get(f"{JOBS}/{job}").status_code == 200
        assert old.get("/v1/me").json()["key_id"] == new.get("/v1/me").json()["key_id"]
        # Retire the old key.
        _write_keys(keys, f"pipeline {KEY_B}\n")
        retired = old.get(f"{JOBS}/{job}")
        assert retired.status_code == 401 and "before-rotation" not in retired.text
        assert [j["job_id"] for j in new.get(JOBS).json()["data"]] == [job]
        # An edit in place (same inode) is seen too.
        keys.write_text(f"pipeline {KEY_A}\n")
        assert new.get("/v1/me").status_code == 401 and old.get("/v1/me").status_code == 200
        # A file that turns unreadable or malformed fails closed: its keys stop working.
        keys.write_text("too many fields on this line\n")
        assert old.get("/v1/me").status_code == 401
        keys.unlink()
        assert old.get("/v1/me").status_code == 401
        _write_keys(keys, f"{KEY_A}\n")
        assert old.get("/v1/me").status_code == 200


def test_key_file_format() -> None:
    assert parse_key_file(f"# comment\n\n{KEY_A}\n  ops   {KEY_B}  \n") == [(KEY_A, None), (KEY_B, "ops")]


def test_key_file_and_insecure_open_come_from_the_environment(tmp_path: Path) -> None:
    env = {"CALLMINE_ENGINE_API_KEY_FILE": str(tmp_path / "k"), "CALLMINE_ENGINE_INSECURE_OPEN": "true"}
    config = parse_args([], env)
    assert config.api_key_file == tmp_path / "k" and config.insecure_open and not config.open_mode
    assert parse_args(["--insecure-open", "--api-key-file", "x"], {}).api_key_file == Path("x")


# --- rate limiting ------------------------------------------------------------------------


def test_past_the_rate_limit_each_key_gets_429_with_retry_after(tmp_path: Path) -> None:
    config = engine_config(tmp_path / "engine", api_keys=(KEY_A, KEY_B), rate_limit_rps=0.5, rate_limit_burst=3)
    with EngineServer(config) as server, server.client(KEY_A) as a, server.client(KEY_B) as b:
        assert [a.get("/v1/me").status_code for _ in range(3)] == [200, 200, 200]
        limited = a.get(JOBS)
        assert limited.status_code == 429
        assert limited.json()["type"].endswith("/rate_limited")
        assert int(limited.headers["retry-after"]) >= 1
        assert_no_leak(limited.text, KEY_A)
        openai = a.post(OPENAI, files={"file": ("x.wav", make_wav(), "audio/wav")})
        assert openai.status_code == 429 and openai.json()["error"]["code"] == "rate_limited"
        assert "retry-after" in openai.headers
        assert b.get("/v1/me").status_code == 200  # another key has its own bucket
        assert b.get("/v1/me").json()["limits"]["requests_per_second"] == 0.5


def test_the_open_local_mode_has_no_rate_limit(tmp_path: Path) -> None:
    config = engine_config(tmp_path / "engine", api_keys=(), workers=1)
    with EngineServer(config) as server, server.client(None) as c:
        assert {c.get("/v1/me").status_code for _ in range(150)} == {200}
        assert c.get("/v1/me").json()["limits"]["requests_per_second"] is None


def test_keyed_engines_limit_by_default() -> None:
    assert EngineConfig(api_keys=(KEY_A,)).rate_limit_in_force() == (50.0, 100)
    assert EngineConfig().rate_limit_in_force() is None
    assert EngineConfig(api_keys=(KEY_A,), rate_limit_rps=0).rate_limit_in_force() is None


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert limiter.check("k") is None and limiter.check("k") is None
    assert limiter.check("k") == 1
    now[0] += 0.5  # one token back
    assert limiter.check("k") is None and limiter.check("k") == 1
    assert limiter.check("other") is None  # its own bucket
    now[0] += 60  # refills up to the burst, not beyond
    assert limiter.check("k") is None and limiter.check("k") is None and limiter.check("k") is not None
