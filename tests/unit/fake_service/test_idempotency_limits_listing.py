"""Idempotency, rate limits, injected faults and listing of the fake PyAI jobs API."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.fake_pyai import FakePyAIServer, KeyConfig
from tests.unit.fake_service.helpers import (
    JOBS,
    client_for,
    make_wav,
    problem_code,
    upload,
)


# --- idempotency -------------------------------------------------------------------


def test_same_idempotency_key_and_body_returns_same_job(client: httpx.Client, fake: FakePyAIServer) -> None:
    audio = make_wav(3, seed=21)
    first = upload(client, audio, headers={"Idempotency-Key": "idem-1"}, diarize=True)
    second = upload(client, audio, headers={"Idempotency-Key": "idem-1"}, diarize=True)
    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] == second.json()["job_id"]
    assert second.headers["idempotent-replayed"] == "true"
    assert fake.stats()["jobs_created"] == 1 and fake.stats()["idempotent_replays"] == 1


def test_same_idempotency_key_with_json_fields_in_another_order_is_the_same_body(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "idem-json"}
    a = client.post(JOBS, json={"audio_url": "https://x.test/a.wav", "diarize": True}, headers=headers)
    b = client.post(JOBS, json={"diarize": True, "audio_url": "https://x.test/a.wav"}, headers=headers)
    assert a.json()["job_id"] == b.json()["job_id"]


def test_same_idempotency_key_with_a_different_body_is_a_409_conflict(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "idem-2"}
    assert upload(client, make_wav(3), headers=headers, diarize=True).status_code == 202
    response = upload(client, make_wav(3), headers=headers, diarize=False)
    assert response.status_code == 409 and problem_code(response) == "idempotency_conflict"


def test_multipart_body_identity_includes_the_audio_bytes(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "idem-3"}
    assert upload(client, make_wav(3, seed=1), headers=headers).status_code == 202
    response = upload(client, make_wav(3, seed=2), headers=headers)
    assert response.status_code == 409


# --- rate limits and injected faults -----------------------------------------------


def test_rate_limit_answers_429_with_retry_after(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(requests_per_second=1, burst=3)
    responses = [client.get("/v1/me") for _ in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    limited = responses[-1]
    assert problem_code(limited) == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    assert fake.stats()["rate_limited"] == 2


def test_rate_limit_buckets_are_per_key(fake: FakePyAIServer) -> None:
    fake.configure(keys={"a": KeyConfig(), "b": KeyConfig(requests_per_second=100, burst=5)}, requests_per_second=1, burst=1)
    with client_for(fake, "a") as a, client_for(fake, "b") as b:
        assert a.get("/v1/me").status_code == 200 and a.get("/v1/me").status_code == 429
        assert b.get("/v1/me").status_code == 200
        assert b.get("/v1/me").json()["limits"]["requests_per_second"] == 100


def test_every_nth_get_of_a_job_is_an_injected_503(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(fail_every_n_get=3)
    job_id = upload(client).json()["job_id"]
    responses = [client.get(f"{JOBS}/{job_id}") for _ in range(6)]
    assert [r.status_code for r in responses] == [200, 200, 503, 200, 200, 503]
    assert problem_code(responses[2]) == "service_unavailable"
    assert fake.stats()["server_errors_injected"] == 2


def test_every_nth_response_is_slow_after_the_work_is_done(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(slow_response_every_n=2, slow_response_s=0.4)
    assert client.get("/v1/me").status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        client.post(JOBS, files={"audio": ("a.wav", make_wav())}, timeout=0.2)
    # The job was created even though the client gave up: retries need an Idempotency-Key.
    assert fake.stats()["jobs_created"] == 1


# --- listing -----------------------------------------------------------------------


def test_jobs_list_pages_newest_first_with_cursor(client: httpx.Client) -> None:
    created = [upload(client, make_wav(1)).json()["job_id"] for _ in range(5)]
    first = client.get(JOBS, params={"limit": 2}).json()
    assert [j["job_id"] for j in first["data"]] == created[::-1][:2]
    assert first["has_more"] and first["next_cursor"]
    second = client.get(JOBS, params={"limit": 2, "cursor": first["next_cursor"]}).json()
    third = client.get(JOBS, params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [j["job_id"] for j in second["data"] + third["data"]] == created[::-1][2:]
    assert third["has_more"] is False and third["next_cursor"] is None


def test_jobs_list_defaults_to_20_and_allows_up_to_100(client: httpx.Client) -> None:
    for _ in range(25):
        upload(client, make_wav(0.5))
    assert len(client.get(JOBS).json()["data"]) == 20
    assert len(client.get(JOBS, params={"limit": 100}).json()["data"]) == 25


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": 0}, {"limit": "ten"}, {"cursor": "bogus"}])
def test_jobs_list_rejects_bad_limit_or_cursor_with_400(client: httpx.Client, params: dict[str, Any]) -> None:
    response = client.get(JOBS, params=params)
    assert response.status_code == 400 and problem_code(response) == "validation_error"


def test_unknown_job_is_404_problem(client: httpx.Client) -> None:
    response = client.get(f"{JOBS}/job_doesnotexist")
    assert response.status_code == 404 and problem_code(response) == "not_found"
