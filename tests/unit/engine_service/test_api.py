"""Engine service: endpoints, idempotency, auth, pagination, signed URLs, webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import httpx
import pytest

from include.engine.signing import signed_path
from tests.unit.engine_service.helpers import (
    API_KEY, JOBS, NO_AUTH, PROBLEM, EngineServer, Loopback, engine_config, make_wav, upload, wait_done,
    wait_status, write_wav,
)


def problem_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    body = response.json()
    assert {"type", "title", "status", "request_id"} <= body.keys()
    assert body["status"] == response.status_code
    return body["type"].rsplit("/", 1)[-1]


# --- submit / read ----------------------------------------------------------------------


def test_upload_submit_answers_202_queued(client: httpx.Client) -> None:
    response = upload(client)
    assert response.status_code == 202
    body = response.json()
    assert body["job_id"].startswith("job_") and body["status"] == "queued" and body["created_at"]


def test_completed_job_has_inline_result_and_units_header(client: httpx.Client, audio_dir: Path) -> None:
    path = write_wav(audio_dir / "two.wav", seconds=2.0)
    job = client.post(JOBS, json={"audio_url": f"file://{path}", "numerals": True}).json()
    done = wait_done(client, job["job_id"])
    body = done.json()
    assert body["status"] == "completed", body
    assert body["result"]["audio_seconds"] == pytest.approx(2.0)
    assert [s["text"] for s in body["result"]["segments"]] == ["segment 0", "segment 1"]
    assert body["result"]["formats"] == {}
    assert float(done.headers["x-pyai-units"]) == pytest.approx(2.0)
    assert "result_url" not in body


def test_file_url_source_is_never_deleted(client: httpx.Client, audio_dir: Path) -> None:
    path = write_wav(audio_dir / "keep.wav")
    job = client.post(JOBS, json={"audio_url": path.as_uri()}).json()
    assert wait_done(client, job["job_id"]).json()["status"] == "completed"
    assert path.exists()


def test_uploaded_audio_is_deleted_when_the_job_ends(engine: EngineServer, client: httpx.Client) -> None:
    job = upload(client, filename="gone.wav").json()
    wait_done(client, job["job_id"])
    assert not list((engine.config.data_dir / "audio").glob(f"{job['job_id']}*"))


def test_http_audio_url_is_fetched(client: httpx.Client, loopback: Loopback) -> None:
    loopback.files["/remote.wav"] = make_wav(3.0)
    job = client.post(JOBS, json={"audio_url": f"{loopback.url}/remote.wav"}).json()
    body = wait_done(client, job["job_id"]).json()
    assert body["status"] == "completed" and body["audio_seconds"] == pytest.approx(3.0)


def test_job_moves_through_processing(client: httpx.Client) -> None:
    job = upload(client, filename="sleep-600ms.wav").json()
    wait_status(client, job["job_id"], "processing")
    assert wait_done(client, job["job_id"]).json()["status"] == "completed"


def test_multipart_form_fields_booleans_and_comma_formats(client: httpx.Client) -> None:
    job = upload(client, channel=True, output_formats="srt,vtt", speakers_expected="2", language="en-US").json()
    body = wait_done(client, job["job_id"]).json()
    assert body["channel"] is True and body["diarize"] is False
    assert body["output_formats"] == ["srt", "vtt"] and body["language"] == "en-US"
    assert body["result"]["segments"][0]["channel"] == 0


def test_subtitle_formats_are_signed_urls_fetchable_without_key(client: httpx.Client) -> None:
    files = {"audio": ("call.wav", make_wav(2.0), "audio/wav")}
    data = {"output_formats": ["srt", "vtt"], "diarize": "true"}  # repeated form field
    job = client.post(JOBS, files=files, data=data).json()
    formats = wait_done(client, job["job_id"]).json()["result"]["formats"]
    assert set(formats) == {"srt", "vtt"}
    srt = NO_AUTH.get(formats["srt"])
    vtt = NO_AUTH.get(formats["vtt"])
    assert srt.status_code == 200 and srt.text.startswith("1\n00:00:00,000 --> ")
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT") and "<v speaker_0>" in vtt.text


def test_model_override_reaches_the_processor(client: httpx.Client) -> None:
    job = upload(client, model="base").json()
    body = wait_done(client, job["job_id"]).json()
    assert body["model"] == "base" and body["result"]["model"] == "base"


def test_unknown_job_is_404_problem(client: httpx.Client) -> None:
    response = client.get(f"{JOBS}/job_nope")
    assert response.status_code == 404 and problem_code(response) == "not_found"


def test_channel_and_diarize_together_is_400(client: httpx.Client) -> None:
    response = client.post(JOBS, json={"audio_url": "file:///x.wav", "channel": True, "diarize": True})
    assert response.status_code == 400 and problem_code(response) == "validation_error"
    assert "mutually exclusive" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"audio_url": "file:///x.wav", "output_formats": ["pdf"]},
        {"audio_url": "file:///x.wav", "channel": "yes"},
        {"audio_url": "file:///x.wav", "speakers_expected": 0},
        {"channel": True},
    ],
    ids=["bad-format", "non-bool", "speakers-range", "no-audio"],
)
def test_invalid_fields_are_400(client: httpx.Client, body: dict) -> None:
    response = client.post(JOBS, json=body)
    assert response.status_code == 400 and problem_code(response) == "validation_error"


def test_unsupported_audio_url_scheme_is_422(client: httpx.Client) -> None:
    response = client.post(JOBS, json={"audio_url": "ftp://host/x.wav"})
    assert response.status_code == 422 and problem_code(response) == "unprocessable"


# --- idempotency ------------------------------------------------------------------------


def test_same_idempotency_key_and_body_returns_the_same_job(client: httpx.Client, audio_dir: Path) -> None:
    body = {"audio_url": write_wav(audio_dir / "idem.wav").as_uri()}
    first = client.post(JOBS, json=body, headers={"Idempotency-Key": "k-same"})
    second = client.post(JOBS, json=body, headers={"Idempotency-Key": "k-same"})
    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] == second.json()["job_id"]
    assert second.headers["idempotent-replayed"] == "true"


def test_same_idempotency_key_different_body_is_409(client: httpx.Client, audio_dir: Path) -> None:
    a, b = write_wav(audio_dir / "a.wav").as_uri(), write_wav(audio_dir / "b.wav").as_uri()
    client.post(JOBS, json={"audio_url": a}, headers={"Idempotency-Key": "k-conflict"})
    response = client.post(JOBS, json={"audio_url": b}, headers={"Idempotency-Key": "k-conflict"})
    assert response.status_code == 409 and problem_code(response) == "idempotency_conflict"


def test_multipart_identity_is_fields_plus_audio_hash(client: httpx.Client) -> None:
    key = {"Idempotency-Key": "k-multipart"}
    first = upload(client, make_wav(seed=1), filename="a.wav", headers=key, channel=True)
    again = upload(client, make_wav(seed=1), filename="a.wav", headers=key, channel=True)
    other_audio = upload(client, make_wav(seed=2), filename="a.wav", headers=key, channel=True)
    other_field = upload(client, make_wav(seed=1), filename="a.wav", headers=key, channel=False)
    assert again.json()["job_id"] == first.json()["job_id"]
    assert other_audio.status_code == 409 and other_field.status_code == 409


# --- auth -------------------------------------------------------------------------------


def test_missing_or_bad_key_is_401(engine: EngineServer) -> None:
    for api_key in (None, "wrong-key"):
        with engine.client(api_key) as anonymous:
            response = anonymous.get(JOBS)
            assert response.status_code == 401 and problem_code(response) == "unauthorized"
            assert "wrong-key" not in response.text


def test_x_api_key_alias_is_accepted(engine: EngineServer) -> None:
    response = NO_AUTH.get(f"{engine.base_url}/v1/me", headers={"x-api-key": API_KEY})
    assert response.status_code == 200


def test_me_describes_the_key_without_echoing_it(client: httpx.Client) -> None:
    response = client.get("/v1/me")
    body = response.json()
    assert API_KEY not in response.text
    assert body["key_id"].startswith("key_") and body["env"] == "local"
    assert body["scopes"] == ["hear:transcribe", "transcribe:jobs"]
    assert body["limits"]["max_upload_mb"] == 0.1


def test_open_mode_needs_no_key(tmp_path: Path) -> None:
    with EngineServer(engine_config(tmp_path, api_keys=(), workers=1)) as server, server.client(None) as c:
        assert c.get("/v1/me").json()["key_id"] == "anonymous"
        job = upload(c).json()
        assert wait_done(c, job["job_id"]).json()["status"] == "completed"


def test_jobs_are_private_to_their_key(tmp_path: Path) -> None:
    config = engine_config(tmp_path / "engine", api_keys=("key-a", "key-b"), workers=1)
    audio = write_wav(tmp_path / "a.wav").as_uri()
    with EngineServer(config) as server, server.client("key-a") as a, server.client("key-b") as b:
        job = a.post(JOBS, json={"audio_url": audio}).json()
        assert b.get(f"{JOBS}/{job['job_id']}").status_code == 404
        assert b.get(JOBS).json()["data"] == []


# --- listing ----------------------------------------------------------------------------


def test_listing_is_newest_first_with_cursor(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "a.wav").as_uri()
    with EngineServer(engine_config(tmp_path / "engine", workers=1)) as server, server.client() as c:
        ids = [c.post(JOBS, json={"audio_url": audio}).json()["job_id"] for i in range(5)]
        first = c.get(JOBS, params={"limit": 2}).json()
        assert [j["job_id"] for j in first["data"]] == ids[::-1][:2] and first["has_more"] is True
        second = c.get(JOBS, params={"limit": 2, "cursor": first["next_cursor"]}).json()
        third = c.get(JOBS, params={"limit": 2, "cursor": second["next_cursor"]}).json()
        seen = [j["job_id"] for page in (first, second, third) for j in page["data"]]
        assert seen == ids[::-1]
        assert third["has_more"] is False and third["next_cursor"] is None
        assert len(c.get(JOBS).json()["data"]) == 5  # default limit 20


def test_listing_limit_over_100_is_400(client: httpx.Client) -> None:
    response = client.get(JOBS, params={"limit": 101})
    assert response.status_code == 400 and problem_code(response) == "validation_error"


# --- offloaded results and signed URLs ----------------------------------------------------


def _offloaded(client: httpx.Client) -> dict:
    job = upload(client, make_wav(2.0), filename="big.wav").json()
    return wait_done(client, job["job_id"]).json()


def test_large_result_is_offloaded_to_a_signed_url(client: httpx.Client) -> None:
    body = _offloaded(client)
    assert body["status"] == "completed" and "result" not in body
    fetched = NO_AUTH.get(body["result_url"])  # no API key needed on signed URLs
    assert fetched.status_code == 200
    assert len(fetched.json()["segments"]) == 400 and fetched.json()["formats"] == {}


def test_tampered_signature_is_403(client: httpx.Client) -> None:
    url = _offloaded(client)["result_url"]
    response = NO_AUTH.get(url[:-4] + ("0000" if not url.endswith("0000") else "1111"))
    assert response.status_code == 403 and problem_code(response) == "forbidden"


def test_expired_signature_is_403(engine: EngineServer, client: httpx.Client) -> None:
    job_id = _offloaded(client)["job_id"]
    secret = (engine.config.data_dir / "url_signing.secret").read_text().strip()
    expired = signed_path("result", job_id, secret, ttl_s=-10)
    response = NO_AUTH.get(engine.base_url + expired)
    assert response.status_code == 403 and "expired" in response.json()["detail"]


# --- webhooks ---------------------------------------------------------------------------


def test_webhook_is_signed_and_verifiable(client: httpx.Client, loopback: Loopback) -> None:
    job = upload(client, webhook_url=f"{loopback.url}/hook").json()
    _, headers, raw = loopback.posts.get(timeout=20)
    expected = hmac.new(b"whsec_test", raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-pyai-signature"], expected)
    assert json.loads(raw) == {"job_id": job["job_id"], "status": "completed"}


def test_unreachable_webhook_does_not_block_the_api(client: httpx.Client) -> None:
    started = time.monotonic()
    job = upload(client, webhook_url="http://127.0.0.1:9/hook").json()
    assert wait_done(client, job["job_id"]).json()["status"] == "completed"
    assert time.monotonic() - started < 10
