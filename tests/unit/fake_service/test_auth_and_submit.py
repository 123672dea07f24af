"""Auth, scopes, credit and submission of the fake PyAI jobs API."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.fake_pyai import DEFAULT_API_KEY, FakeConfig, FakePyAIServer, KeyConfig, SCOPE_JOBS, running_fake_pyai
from tests.unit.fake_service.helpers import (
    FAST,
    JOBS,
    LoopbackHTTP,
    NO_AUTH,
    client_for,
    make_wav,
    problem_code,
    result_of,
    transcribe,
    upload,
    wait_done,
)


# --- auth, scopes, credit ----------------------------------------------------------


def test_me_introspects_the_key_without_echoing_it(client: httpx.Client) -> None:
    response = client.get("/v1/me")
    body = response.json()
    assert response.status_code == 200
    assert DEFAULT_API_KEY not in response.text
    assert body["key_id"].startswith("key_") and body["env"] == "test"
    assert set(body["scopes"]) == {"hear:transcribe", "transcribe:jobs"}
    assert {"requests_per_second", "burst"} <= body["limits"].keys() and "credit" in body


def test_missing_key_is_401_problem(fake: FakePyAIServer) -> None:
    response = NO_AUTH.get(fake.base_url + "/v1/me")
    assert response.status_code == 401 and problem_code(response) == "unauthorized"
    assert response.json()["request_id"]


@pytest.mark.parametrize("key", ["not-a-key", "x" * 513])
def test_unknown_or_overlong_key_is_401(fake: FakePyAIServer, key: str) -> None:
    response = NO_AUTH.get(fake.base_url + "/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401 and problem_code(response) == "unauthorized"
    assert key not in response.text


def test_x_api_key_header_is_an_alias_for_bearer(fake: FakePyAIServer) -> None:
    response = NO_AUTH.get(fake.base_url + "/v1/me", headers={"x-api-key": DEFAULT_API_KEY})
    assert response.status_code == 200


def test_key_missing_the_transcribe_scope_gets_403_on_submit(fake: FakePyAIServer) -> None:
    fake.configure(keys={"jobs_only": KeyConfig(scopes=(SCOPE_JOBS,))})
    with client_for(fake, "jobs_only") as c:
        response = upload(c)
        assert response.status_code == 403 and problem_code(response) == "forbidden"
        assert "hear:transcribe" in response.json()["detail"]
        assert c.get(JOBS).status_code == 200  # listing needs only transcribe:jobs


def test_exhausted_credit_gets_402_on_submit(fake: FakePyAIServer) -> None:
    fake.configure(keys={"broke": KeyConfig(state="credit_exhausted")})
    with client_for(fake, "broke") as c:
        response = upload(c)
        assert response.status_code == 402 and problem_code(response) == "credit_exhausted"
        assert c.get("/v1/me").json()["credit"]["state"] == "exhausted"


def test_open_mode_needs_no_key() -> None:
    with running_fake_pyai(FakeConfig(keys={}, latency_s=FAST)) as server, client_for(server) as c:
        assert server.api_key is None
        assert transcribe(c).json()["status"] == "completed"


def test_jobs_of_another_key_are_not_found(fake: FakePyAIServer) -> None:
    fake.configure(keys={"alice": KeyConfig(), "bob": KeyConfig()})
    with client_for(fake, "alice") as alice, client_for(fake, "bob") as bob:
        job_id = upload(alice).json()["job_id"]
        response = bob.get(f"{JOBS}/{job_id}")
        assert response.status_code == 404 and problem_code(response) == "not_found"
        assert bob.get(JOBS).json()["data"] == []


# --- submit ------------------------------------------------------------------------


def test_multipart_upload_is_accepted_as_a_queued_job(client: httpx.Client) -> None:
    response = upload(client, diarize=True)
    job = response.json()
    assert response.status_code == 202
    assert re.fullmatch(r"job_[0-9a-f]+", job["job_id"]) and job["status"] == "queued"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", job["created_at"])


def test_audio_url_submit_fetches_the_audio_and_completes(client: httpx.Client, loopback: LoopbackHTTP) -> None:
    loopback.files["/calls/a.wav"] = make_wav(4, seed=7)
    response = client.post(JOBS, json={"audio_url": loopback.url + "/calls/a.wav", "diarize": True})
    assert response.status_code == 202, response.text
    done = wait_done(client, response.json()["job_id"])
    assert done.json()["status"] == "completed"
    assert result_of(done)["audio_seconds"] == 4.0


def test_json_submit_without_audio_url_is_400(client: httpx.Client) -> None:
    response = client.post(JOBS, json={"diarize": True})
    assert response.status_code == 400 and problem_code(response) == "validation_error"


def test_channel_and_diarize_together_is_a_400_validation_problem(client: httpx.Client) -> None:
    response = upload(client, channel=True, diarize=True)
    assert response.status_code == 400 and problem_code(response) == "validation_error"
    assert "channel" in response.json()["detail"]


@pytest.mark.parametrize("value", ["yes", "1", "True!"])
def test_form_booleans_must_be_true_or_false(client: httpx.Client, value: str) -> None:
    response = upload(client, diarize=value)
    assert response.status_code == 400 and problem_code(response) == "validation_error"


def test_json_booleans_must_be_json_booleans(client: httpx.Client) -> None:
    response = client.post(JOBS, json={"audio_url": "https://example.com/a.wav", "diarize": "true"})
    assert response.status_code == 400


def test_output_formats_accept_repeated_or_comma_separated_form_fields(client: httpx.Client) -> None:
    repeated = client.post(
        JOBS, files={"audio": ("a.wav", make_wav())}, data={"output_formats": ["json", "srt", "vtt"]}
    )
    comma = upload(client, output_formats="srt,vtt")
    assert repeated.json()["output_formats"] == ["json", "srt", "vtt"]
    assert comma.json()["output_formats"] == ["srt", "vtt"]
    assert upload(client, output_formats="json,docx").status_code == 400
