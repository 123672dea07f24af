"""Specification of the fake PyAI Hear jobs API (tests/fake_pyai).

The real client is tested against this fake, so these tests pin the contract,
including its ugly parts (two error shapes, two word-token keys, offloaded results
on another host, problem+json everywhere).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import io
import json
import queue
import re
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest

from tests.fake_pyai import (
    DEFAULT_API_KEY,
    SCOPE_JOBS,
    SIGNATURE_HEADER,
    FakeConfig,
    FakePyAIServer,
    KeyConfig,
    running_fake_pyai,
)
from tests.fake_pyai.__main__ import build_parser, config_from_args

JOBS = "/v1/transcription/jobs"
PROBLEM = "application/problem+json"
FAST = 0.05  # job latency for tests

# Plain http only, so skip TLS setup: building a verifying httpx.Client costs ~40 ms.
NO_AUTH = httpx.Client(timeout=10, verify=False)  # no API key: what signed URLs must be fetched with


# --- helpers -----------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def make_wav(seconds: float = 3.0, channels: int = 1, seed: int = 0, rate: int = 8_000) -> bytes:
    """A tone per channel; the seed shifts the pitch so different seeds mean different bytes."""
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    tones = [np.sin(2 * np.pi * (220 + 110 * ch + seed) * t) * 0.3 for ch in range(channels)]
    samples = (np.stack(tones, axis=1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def upload(
    client: httpx.Client,
    audio: bytes | None = None,
    filename: str = "call.wav",
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    data = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in fields.items()}
    files = {"audio": (filename, audio if audio is not None else make_wav(), "audio/wav")}
    return client.post(JOBS, files=files, data=data, headers=headers)


def wait_done(client: httpx.Client, job_id: str, timeout_s: float = 5.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"{JOBS}/{job_id}")
        assert response.status_code == 200, response.text
        if response.json()["status"] in ("completed", "failed", "cancelled"):
            return response
        assert time.monotonic() < deadline, f"job {job_id} still {response.json()['status']}"
        time.sleep(0.02)


def transcribe(client: httpx.Client, audio: bytes | None = None, **fields: Any) -> httpx.Response:
    submitted = upload(client, audio, **fields)
    assert submitted.status_code == 202, submitted.text
    return wait_done(client, submitted.json()["job_id"])


def result_of(response: httpx.Response) -> dict[str, Any]:
    job = response.json()
    if job.get("result") is not None:
        return job["result"]
    return NO_AUTH.get(job["result_url"]).json()  # no API key: signed URL


def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def problem_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    body = response.json()
    assert body["status"] == response.status_code and body["title"]
    return body["type"].rsplit("/", 1)[-1]


class LoopbackHTTP:
    """Serves registered bytes on GET (audio_url) and records POSTs (webhooks)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.posts: queue.Queue[tuple[str, dict[str, str], bytes]] = queue.Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.put((self.path, dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakePyAIServer]:
    config = FakeConfig(latency_s=FAST, slow_latency_s=0.4, requests_per_second=None, allow_http_audio=True)
    with FakePyAIServer(config) as server:
        yield server


@pytest.fixture
def fake(shared_fake: FakePyAIServer) -> FakePyAIServer:
    """One server for the module, clean for every test (no jobs, zero counters, base config)."""
    shared_fake.reset()
    return shared_fake


@pytest.fixture(scope="module")
def shared_client(shared_fake: FakePyAIServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_fake.base_url, headers=shared_fake.auth_headers, timeout=10, verify=False) as c:
        yield c


@pytest.fixture
def client(fake: FakePyAIServer, shared_client: httpx.Client) -> httpx.Client:
    """Authenticated with the default key, against the freshly reset fake."""
    return shared_client


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackHTTP]:
    server = LoopbackHTTP()
    yield server
    server.close()


def client_for(server: FakePyAIServer, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else server.auth_headers
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=10, verify=False)


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


# --- lifecycle and results ---------------------------------------------------------


def test_job_is_queued_then_processing_then_completed_as_latency_elapses(
    fake: FakePyAIServer, client: httpx.Client
) -> None:
    fake.configure(latency_s=0.4, queued_fraction=0.5)  # 0.2 s in each phase: robust on a busy box
    job_id = upload(client).json()["job_id"]
    seen: list[str] = []
    for _ in range(40):
        status = client.get(f"{JOBS}/{job_id}").json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "completed":
            break
        time.sleep(0.03)
    assert seen == ["queued", "processing", "completed"]


def test_completed_job_carries_billed_units_header(client: httpx.Client) -> None:
    done = transcribe(client, make_wav(2.5))
    assert done.headers["x-pyai-units"] == "2.50"
    assert result_of(done)["audio_seconds"] == 2.5
    queued = upload(client)
    assert "x-pyai-units" not in queued.headers


def test_diarized_mono_upload_returns_speaker_segments(client: httpx.Client) -> None:
    result = result_of(transcribe(client, make_wav(30), diarize=True))
    assert result["speakers"] == 2
    assert {seg["speaker"] for seg in result["segments"]} == {"speaker_0", "speaker_1"}
    assert all("channel" not in seg for seg in result["segments"])
    assert all(word["speaker"].startswith("speaker_") for word in result["words"])


def test_speakers_expected_sets_the_number_of_diarized_speakers(client: httpx.Client) -> None:
    result = result_of(transcribe(client, make_wav(60, seed=3), diarize=True, speakers_expected=3))
    assert {seg["speaker"] for seg in result["segments"]} == {"speaker_0", "speaker_1", "speaker_2"}


def test_stereo_upload_returns_channel_segments(client: httpx.Client) -> None:
    result = result_of(transcribe(client, make_wav(30, channels=2), channel=True))
    assert {seg["channel"] for seg in result["segments"]} == {0, 1}
    assert all("speaker" not in seg for seg in result["segments"] + result["words"])
    assert all(word["channel"] in (0, 1) for word in result["words"])


def test_without_channel_or_diarize_segments_have_no_speaker_or_channel(client: httpx.Client) -> None:
    result = result_of(transcribe(client, make_wav(20)))
    assert result["segments"]
    assert all("speaker" not in seg and "channel" not in seg for seg in result["segments"])


def test_turns_cover_most_of_the_audio_and_words_lie_inside_their_segment(client: httpx.Client) -> None:
    result = result_of(transcribe(client, make_wav(90, seed=11), diarize=True))
    segments = result["segments"]
    spoken = sum(seg["end"] - seg["start"] for seg in segments)
    assert spoken > 0.6 * 90 and segments[-1]["end"] <= 90
    assert segments == sorted(segments, key=lambda s: s["start"])
    assert result["text"] == " ".join(seg["text"] for seg in segments)
    token_key = "word" if "word" in result["words"][0] else "text"
    assert sum(len(seg["text"].split()) for seg in segments) == len(result["words"])
    for word in result["words"]:
        assert word["start"] < word["end"]
        assert any(s["start"] <= word["start"] and word["end"] <= s["end"] for s in segments), word
        assert word[token_key]
        assert "confidence" not in word or 0.80 <= word["confidence"] <= 0.99


def test_some_turns_overlap_like_interruptions(client: httpx.Client) -> None:
    segments = result_of(transcribe(client, make_wav(600, seed=4), diarize=True))["segments"]
    overlaps = [b for a, b in zip(segments, segments[1:]) if b["start"] < a["end"]]
    assert 0 < len(overlaps) < len(segments) / 3
    assert all(b["speaker"] != a["speaker"] for a, b in zip(segments, segments[1:]))


def test_channel_mode_on_mono_audio_puts_everything_on_channel_0(client: httpx.Client) -> None:
    result = result_of(transcribe(client, make_wav(20), channel=True))
    assert {seg["channel"] for seg in result["segments"]} == {0}


def test_transcript_is_deterministic_for_the_same_audio(client: httpx.Client) -> None:
    audio = make_wav(20, seed=5)
    first = result_of(transcribe(client, audio, diarize=True))
    second = result_of(transcribe(client, audio, diarize=True))
    assert first["segments"] == second["segments"]


def test_long_calls_talk_about_pricing_competitors_and_refunds(client: httpx.Client) -> None:
    text = result_of(transcribe(client, make_wav(300, seed=1), diarize=True))["text"].lower()
    for keyword in ("pricing", "competitor", "contract", "discount", "refund"):
        assert keyword in text
    assert "?" in text


def test_numerals_flag_writes_numbers_as_digits(client: httpx.Client) -> None:
    audio = make_wav(300, seed=2)
    spelled = result_of(transcribe(client, audio, numerals=False))["text"]
    digits = result_of(transcribe(client, audio, numerals=True))["text"]
    assert not re.search(r"\d", spelled) and re.search(r"\d", digits)


def test_word_token_key_and_confidence_follow_config(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(word_token_key="text", word_confidence=False)
    words = result_of(transcribe(client, make_wav(10)))["words"]
    assert all("text" in w and "word" not in w and "confidence" not in w for w in words)


def test_word_token_key_varies_between_jobs_by_default(client: httpx.Client) -> None:
    job_ids = [upload(client, make_wav(3)).json()["job_id"] for _ in range(12)]
    keys = set()
    for job_id in job_ids:
        words = result_of(wait_done(client, job_id))["words"]
        keys.add("word" if "word" in words[0] else "text")
    assert keys == {"word", "text"}


def test_undecodable_audio_fails_the_job_with_reason(client: httpx.Client) -> None:
    done = transcribe(client, b"this is not audio" * 50)
    job = done.json()
    assert job["status"] == "failed" and "x-pyai-units" not in done.headers
    assert isinstance(job["error"], str) and job["error"].startswith("could not decode audio:")


def test_zero_length_audio_fails_the_job(client: httpx.Client) -> None:
    job = transcribe(client, make_wav(0)).json()
    assert job["status"] == "failed" and "could not decode audio" in job["error"]


def test_failed_job_error_can_be_an_object_with_code_and_message(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(error_shape="object")
    error = transcribe(client, b"garbage").json()["error"]
    assert error["code"] == "audio_decode_failed" and "could not decode audio" in error["message"]


def test_http_audio_url_is_refused_by_default_and_the_job_fails_after_staying_queued(
    fake: FakePyAIServer, client: httpx.Client
) -> None:
    assert FakeConfig().allow_http_audio is False
    fake.configure(allow_http_audio=False, latency_s=0.4)
    job_id = client.post(JOBS, json={"audio_url": "http://127.0.0.1:9/a.wav"}).json()["job_id"]
    time.sleep(0.15)  # past the usual queued share of the latency
    assert client.get(f"{JOBS}/{job_id}").json()["status"] == "queued"
    job = wait_done(client, job_id).json()
    assert job["status"] == "failed"
    assert job["error"]["code"] == "invalid_audio_url" and "https" in job["error"]["message"]


def test_unreachable_audio_url_fails_the_job(client: httpx.Client, loopback: LoopbackHTTP) -> None:
    response = client.post(JOBS, json={"audio_url": loopback.url + "/missing.wav"})
    job = wait_done(client, response.json()["job_id"]).json()
    assert job["status"] == "failed" and job["error"]["code"] == "audio_fetch_failed"


def test_slow_marker_in_the_filename_uses_the_slow_latency(client: httpx.Client) -> None:
    job_id = upload(client, filename="slow_call.wav").json()["job_id"]
    time.sleep(FAST * 3)
    assert client.get(f"{JOBS}/{job_id}").json()["status"] in ("queued", "processing")
    assert wait_done(client, job_id).json()["status"] == "completed"


def test_cancel_marker_ends_the_job_cancelled(client: httpx.Client) -> None:
    assert transcribe(client, filename="cancel-me.wav").json()["status"] == "cancelled"


# --- result host -------------------------------------------------------------------


def test_large_result_is_offloaded_to_result_url_on_another_host(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(offload_over_bytes=0)
    job = transcribe(client, make_wav(5)).json()
    assert job.get("result") is None and job["result_url"]
    api, results = urlsplit(fake.base_url), urlsplit(job["result_url"])
    assert results.port != api.port
    assert results.hostname != api.hostname  # different host *name*, not just port
    fetched = NO_AUTH.get(job["result_url"])
    assert fetched.status_code == 200 and fetched.json()["audio_seconds"] == 5.0
    assert fake.stats()["result_fetches"] == 1


def test_results_stay_inline_when_offloading_is_disabled(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(offload_over_bytes=None)
    job = transcribe(client, make_wav(120)).json()
    assert job["result"]["segments"] and "result_url" not in job


def test_default_threshold_offloads_long_calls_but_not_short_ones(client: httpx.Client) -> None:
    assert FakeConfig().offload_over_bytes == 4096
    assert transcribe(client, make_wav(2)).json()["result"] is not None
    assert transcribe(client, make_wav(120)).json()["result_url"]


def test_srt_and_vtt_are_served_from_signed_urls_for_requested_formats(client: httpx.Client) -> None:
    result = result_of(transcribe(client, make_wav(12), diarize=True, output_formats="json,srt,vtt"))
    assert set(result["formats"]) == {"srt", "vtt"}
    srt = NO_AUTH.get(result["formats"]["srt"])
    vtt = NO_AUTH.get(result["formats"]["vtt"])
    assert re.match(r"1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n\S", srt.text)
    assert srt.text.count(" --> ") == len(result["segments"])
    assert vtt.text.startswith("WEBVTT\n\n") and re.search(r"\d\d:\d\d:\d\d\.\d{3} --> ", vtt.text)
    only_srt = result_of(transcribe(client, make_wav(3), output_formats="srt"))
    assert set(only_srt["formats"]) == {"srt"}


def test_result_host_rejects_requests_carrying_the_api_key(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(offload_over_bytes=0)
    url = transcribe(client, make_wav(3)).json()["result_url"]
    for headers in ({"Authorization": f"Bearer {fake.api_key}"}, {"x-api-key": str(fake.api_key)}):
        response = NO_AUTH.get(url, headers=headers)
        assert response.status_code == 400 and problem_code(response) == "validation_error"
    stats = fake.stats()
    assert stats["result_fetches_with_auth"] == 2 and stats["result_fetches"] == 0


def test_result_host_rejects_a_tampered_signature_with_403(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(offload_over_bytes=0)
    url = transcribe(client, make_wav(3)).json()["result_url"]
    response = NO_AUTH.get(re.sub(r"sig=[0-9a-f]", "sig=z", url))
    assert response.status_code == 403 and problem_code(response) == "forbidden"


def test_result_host_rejects_an_expired_signature_with_403(fake: FakePyAIServer, client: httpx.Client) -> None:
    fake.configure(offload_over_bytes=0, signed_url_ttl_s=-5)
    response = NO_AUTH.get(transcribe(client, make_wav(3)).json()["result_url"])
    assert response.status_code == 403 and "expired" in response.json()["detail"]


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


# --- webhooks ----------------------------------------------------------------------


def test_webhook_is_posted_when_the_job_finishes_with_a_valid_signature(
    fake: FakePyAIServer, client: httpx.Client, loopback: LoopbackHTTP
) -> None:
    fake.configure(webhook_secret="whsec_test")
    job_id = upload(client, webhook_url=loopback.url + "/hooks/pyai").json()["job_id"]
    path, headers, body = loopback.posts.get(timeout=5)  # arrives without any polling
    assert path == "/hooks/pyai"
    assert json.loads(body) == {"job_id": job_id, "status": "completed"}
    expected = hmac.new(b"whsec_test", body, hashlib.sha256).hexdigest()
    signature = {k.lower(): v for k, v in headers.items()}[SIGNATURE_HEADER.lower()]
    assert hmac.compare_digest(signature, expected)
    eventually(lambda: fake.stats()["webhooks_sent"] == 1)  # counted once the receiver answered


def test_failed_jobs_are_announced_by_webhook_too(client: httpx.Client, loopback: LoopbackHTTP) -> None:
    job_id = upload(client, b"not audio", webhook_url=loopback.url + "/hooks/pyai").json()["job_id"]
    _, _, body = loopback.posts.get(timeout=5)
    assert json.loads(body) == {"job_id": job_id, "status": "failed"}


def test_unreachable_webhook_is_ignored(fake: FakePyAIServer, client: httpx.Client) -> None:
    job_id = upload(client, webhook_url="http://127.0.0.1:9/nothing-listens").json()["job_id"]
    assert wait_done(client, job_id).json()["status"] == "completed"
    eventually(lambda: fake.stats()["webhooks_failed"] == 1)


# --- introspection, process, scale -------------------------------------------------


def test_stats_count_jobs_by_status_and_reset_clears_them(fake: FakePyAIServer, client: httpx.Client) -> None:
    transcribe(client)
    transcribe(client, b"nope")
    stats = NO_AUTH.get(fake.base_url + "/_fake/stats").json()  # no auth needed
    assert stats["jobs_created"] == 2
    assert stats["by_status"]["completed"] == 1 and stats["by_status"]["failed"] == 1
    assert NO_AUTH.post(fake.base_url + "/_fake/reset").status_code == 204
    assert fake.stats()["jobs_created"] == 0 and client.get(JOBS).json()["data"] == []


def test_configure_changes_the_running_server_and_reset_restores_it(fake: FakePyAIServer) -> None:
    fake.configure(latency_s=9.0)
    assert fake.config.latency_s == 9.0
    with pytest.raises(TypeError):
        fake.configure(no_such_knob=1)
    fake.reset()
    assert fake.config.latency_s == FAST


def test_cli_flags_map_onto_the_config() -> None:
    args = build_parser().parse_args(
        ["--latency", "20", "--allow-http-audio", "--open", "--offload-over-bytes", "none", "--rps", "off"]
    )
    config = config_from_args(args)
    assert config.latency_s == 20 and config.allow_http_audio and config.open_mode
    assert config.offload_over_bytes is None and config.requests_per_second is None


def test_runs_as_a_process_and_announces_both_urls() -> None:
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "tests.fake_pyai", "--port", "0", "--result-port", "0", "--api-key", "k1"]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"fake pyai listening on (http://127\.0\.0\.1:\d+) \(results on http://localhost:\d+\)\n", line)
        assert match, line
        assert NO_AUTH.get(match.group(1) + "/v1/me", headers={"x-api-key": "k1"}).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_sustains_hundreds_of_concurrent_jobs_from_an_async_client(fake: FakePyAIServer) -> None:
    fake.configure(latency_s=0.2)
    audio = make_wav(2)

    async def run(server: FakePyAIServer) -> list[str]:
        # Bounded in-flight requests and a small pool: httpcore's pool does
        # O(queued x connections) work per event, which would dominate otherwise.
        in_flight = asyncio.Semaphore(10)
        limits = httpx.Limits(max_connections=10)
        async with httpx.AsyncClient(base_url=server.base_url, headers=server.auth_headers, limits=limits) as c:

            async def call(method: str, url: str, **kwargs: Any) -> dict[str, Any]:
                async with in_flight:
                    return (await c.request(method, url, **kwargs)).json()

            async def one(i: int) -> str:
                files = {"audio": (f"c{i}.wav", audio)}
                job_id = (await call("POST", JOBS, files=files, data={"diarize": "true"}))["job_id"]
                while (status := (await call("GET", f"{JOBS}/{job_id}"))["status"]) in ("queued", "processing"):
                    await asyncio.sleep(0.1)
                return status

            return await asyncio.gather(*(one(i) for i in range(200)))

    assert asyncio.run(run(fake)) == ["completed"] * 200
    assert fake.stats()["by_status"]["completed"] == 200
