"""Random faults of the fake (seeded, per kind) and its count of jobs per Idempotency-Key and per audio."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.fake_pyai import FakeConfig, FakePyAIServer
from tests.unit.fake_service.helpers import JOBS, NO_AUTH, make_wav, problem_code, upload, wait_done

RATES = ("fault_rate_429", "fault_rate_5xx", "fault_rate_slow", "fault_rate_drop")


def kinds_of(fake: FakePyAIServer) -> dict[str, int]:
    return fake.stats()["faults_injected"]


# --- off by default ------------------------------------------------------------------


def test_no_fault_is_injected_by_default(fake: FakePyAIServer, client: httpx.Client) -> None:
    assert FakeConfig().fault_rate == 0
    assert all(client.get("/v1/me").status_code == 200 for _ in range(50))
    assert kinds_of(fake) == {"429": 0, "5xx": 0, "slow": 0, "drop": 0}


# --- each kind -----------------------------------------------------------------------


def test_injected_429_carries_retry_after_and_creates_no_job(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(fault_rate_429=1.0, fault_retry_after_s=3)
    response = upload(client, make_wav(1), headers={"Idempotency-Key": "k-429"})
    assert response.status_code == 429 and problem_code(response) == "rate_limited"
    assert response.headers["Retry-After"] == "3"
    assert fake.stats()["jobs_created"] == 0 and kinds_of(fake)["429"] == 1


def test_injected_5xx_is_a_server_error_problem_and_creates_no_job(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(fault_rate_5xx=1.0)
    responses = [upload(client, make_wav(1), headers={"Idempotency-Key": f"k-5xx-{i}"}) for i in range(12)]
    assert {r.status_code for r in responses} <= {500, 502, 503}
    assert len({r.status_code for r in responses}) > 1  # a mix, not always the same answer
    assert {problem_code(r) for r in responses} <= {"internal_error", "bad_gateway", "service_unavailable"}
    assert fake.stats()["jobs_created"] == 0 and kinds_of(fake)["5xx"] == 12


def test_slow_answer_times_the_client_out_after_the_job_exists(fake: FakePyAIServer) -> None:
    fake.configure(fault_rate_slow=1.0, fault_slow_s=0.6)
    with httpx.Client(base_url=fake.base_url, headers=fake.auth_headers, timeout=0.2) as impatient:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            upload(impatient, make_wav(1, seed=5), headers={"Idempotency-Key": "k-slow"})
        assert time.monotonic() - started < 0.5
    assert fake.stats()["jobs_created"] == 1 and kinds_of(fake)["slow"] == 1
    with httpx.Client(base_url=fake.base_url, headers=fake.auth_headers, timeout=5) as patient:
        started = time.monotonic()
        assert patient.get("/v1/me").status_code == 200
        assert time.monotonic() - started >= 0.6


def test_dropped_connection_has_no_answer_but_the_job_exists(fake: FakePyAIServer) -> None:
    fake.configure(fault_rate_drop=1.0)
    with httpx.Client(base_url=fake.base_url, headers=fake.auth_headers, timeout=5) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            upload(c, make_wav(1, seed=6), headers={"Idempotency-Key": "k-drop"})
    assert fake.stats()["jobs_created"] == 1 and kinds_of(fake)["drop"] == 1


def test_a_lost_answer_retried_with_the_same_key_is_replayed_not_a_second_job(fake: FakePyAIServer) -> None:
    audio = make_wav(1, seed=7)
    fake.configure(fault_rate_drop=1.0)
    with httpx.Client(base_url=fake.base_url, headers=fake.auth_headers, timeout=5) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            upload(c, audio, headers={"Idempotency-Key": "k-retry"})
        fake.configure(fault_rate_drop=0.0)
        again = upload(c, audio, headers={"Idempotency-Key": "k-retry"})
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    stats = fake.stats()
    assert stats["jobs_created"] == 1 and stats["idempotent_replays"] == 1
    assert stats["duplicate_jobs_by_key"] == 0 and stats["duplicate_jobs_by_audio"] == 0


def test_gets_are_faulted_too_and_a_job_still_finishes(fake: FakePyAIServer, client: httpx.Client) -> None:
    job_id = upload(client, make_wav(1, seed=8)).json()["job_id"]
    fake.configure(fault_rate_5xx=0.5, fault_seed=3)
    codes = [client.get(f"{JOBS}/{job_id}").status_code for _ in range(40)]
    assert set(codes) >= {200} and set(codes) - {200} <= {500, 502, 503}
    fake.configure(fault_rate_5xx=0.0)
    assert wait_done(client, job_id).json()["status"] == "completed"
    assert fake.job_counts()["faults"]["by_route"].get("get_job 5xx", 0) == codes.count(500) + codes.count(502) + codes.count(503)


# --- seeded mix ----------------------------------------------------------------------


def draw_sequence(fake: FakePyAIServer, client: httpx.Client, seed: int, n: int) -> list[int]:
    fake.reset()
    fake.configure(fault_seed=seed, fault_rate_429=0.1, fault_rate_5xx=0.1)
    return [client.get("/v1/me").status_code for _ in range(n)]


def test_the_same_seed_gives_the_same_faults_to_the_same_request_sequence(fake: FakePyAIServer, client: httpx.Client) -> None:
    first = draw_sequence(fake, client, seed=11, n=60)
    assert draw_sequence(fake, client, seed=11, n=60) == first
    assert draw_sequence(fake, client, seed=12, n=60) != first


def test_rates_are_per_request_shares_of_each_kind(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(fault_seed=1, fault_rate_429=0.05, fault_rate_5xx=0.05, fault_rate_drop=0.1)
    n = 1000
    for _ in range(n):
        try:
            client.get("/v1/me")
        except httpx.TransportError:
            pass  # a dropped connection
    kinds = kinds_of(fake)
    assert kinds["slow"] == 0
    assert 30 <= kinds["429"] <= 75 and 30 <= kinds["5xx"] <= 75 and 70 <= kinds["drop"] <= 135
    assert FakeConfig(fault_rate_429=0.05, fault_rate_5xx=0.05, fault_rate_drop=0.1).fault_rate == pytest.approx(0.2)


def test_the_result_host_and_the_introspection_routes_are_never_faulted(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(offload_over_bytes=0)
    job_id = upload(client, make_wav(2, seed=9)).json()["job_id"]
    done = wait_done(client, job_id).json()
    fake.configure(**dict.fromkeys(RATES, 0.25))
    assert all(NO_AUTH.get(done["result_url"]).status_code == 200 for _ in range(30))
    assert all(httpx.get(fake.base_url + "/_fake/stats").status_code == 200 for _ in range(30))
    assert sum(kinds_of(fake).values()) == 0


# --- jobs per key and per audio ----------------------------------------------------------


def test_jobs_are_counted_per_idempotency_key_and_per_audio(fake: FakePyAIServer, client: httpx.Client) -> None:
    a, b = make_wav(1, seed=31), make_wav(1, seed=32)
    upload(client, a, headers={"Idempotency-Key": "key-a"})
    upload(client, a, headers={"Idempotency-Key": "key-a"})  # replay: no new job
    upload(client, b, headers={"Idempotency-Key": "key-b1"})
    upload(client, b, headers={"Idempotency-Key": "key-b2"})  # the same audio under a new key: a duplicate
    client.post(JOBS, json={"audio_url": "https://x.test/c.wav"})
    counts = fake.job_counts()
    assert counts["by_idempotency_key"] == {"key-a": 1, "key-b1": 1, "key-b2": 1}
    assert sorted(counts["by_audio"].values()) == [1, 1, 2]
    assert "url:https://x.test/c.wav" in counts["by_audio"]
    assert sorted(j["idempotency_key"] or "-" for j in counts["jobs"].values()) == ["-", "key-a", "key-b1", "key-b2"]
    stats = fake.stats()
    assert stats["duplicate_jobs_by_key"] == 0 and stats["duplicate_jobs_by_audio"] == 1
    assert httpx.get(fake.base_url + "/_fake/job-counts").json()["by_idempotency_key"] == counts["by_idempotency_key"]


def test_reset_forgets_job_counts_and_restarts_the_fault_sequence(fake: FakePyAIServer, client: httpx.Client) -> None:
    upload(client, make_wav(1, seed=41), headers={"Idempotency-Key": "key-r"})
    fake.configure(fault_rate_429=0.5)
    [client.get("/v1/me") for _ in range(10)]
    fake.reset()
    counts = fake.job_counts()
    assert counts["by_idempotency_key"] == {} and counts["jobs"] == {} and sum(kinds_of(fake).values()) == 0
    assert fake.config.fault_rate == 0


def test_command_line_sets_the_fault_knobs() -> None:
    from tests.unit.fake_service.helpers import build_parser, config_from_args

    args = build_parser().parse_args(["--fault-seed", "7", "--fault-rate-429", "0.05", "--fault-rate-5xx", "0.05",
                                      "--fault-rate-slow", "0.05", "--fault-rate-drop", "0.05", "--fault-slow-s", "31"])
    config = config_from_args(args)
    assert (config.fault_seed, config.fault_slow_s) == (7, 31)
    assert config.fault_rate == pytest.approx(0.2)
