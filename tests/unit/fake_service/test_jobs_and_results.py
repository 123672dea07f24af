"""Job lifecycle, result documents and the signed result host of the fake PyAI jobs API."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlsplit

import httpx

from tests.fake_pyai import FakeConfig, FakePyAIServer
from tests.unit.fake_service.helpers import (
    FAST,
    JOBS,
    LoopbackHTTP,
    NO_AUTH,
    make_wav,
    problem_code,
    result_of,
    transcribe,
    upload,
    wait_done,
)


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
