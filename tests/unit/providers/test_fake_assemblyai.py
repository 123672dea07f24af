"""The fake AssemblyAI service behaves like the public v2 API reference says (raw HTTP, no callmine)."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import httpx
import pytest

from tests.fake_assemblyai import AUTH_ERROR, FakeAssemblyAI, FakeAssemblyAIConfig
from tests.http_helpers import make_wav

URL = "https://recordings.example.com/call-0001.wav"


@pytest.fixture(scope="module")
def fake():
    with FakeAssemblyAI(FakeAssemblyAIConfig(latency_s=0.05, retry_after_s=3)) as server:
        yield server


@pytest.fixture
def api(fake):
    fake.reset()
    with httpx.Client(base_url=fake.base_url, headers=fake.auth_headers) as client:
        yield client


def create(api: httpx.Client, **body) -> dict:
    response = api.post("/v2/transcript", json={"audio_url": URL, **body})
    assert response.status_code == 200, response.text
    return response.json()


def done(api: httpx.Client, transcript_id: str, timeout_s: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        doc = api.get(f"/v2/transcript/{transcript_id}").json()
        if doc["status"] in ("completed", "error"):
            return doc
        assert time.monotonic() < deadline, doc["status"]
        time.sleep(0.01)


def test_upload_returns_an_upload_url_on_the_fake_that_serves_the_same_bytes(api, fake):
    audio = make_wav(2.0)
    upload_url = api.post("/v2/upload", content=audio).json()["upload_url"]
    assert upload_url.startswith(f"{fake.base_url}/upload/")
    assert httpx.get(upload_url).content == audio


def test_a_transcript_is_queued_then_processing_then_completed(api, fake):
    fake.configure(latency_s=0.3)
    doc = create(api)
    seen = [doc["status"]]
    while seen[-1] != "completed":
        time.sleep(0.02)
        status = api.get(f"/v2/transcript/{doc['id']}").json()["status"]
        if status != seen[-1]:
            seen.append(status)
    assert seen == ["queued", "processing", "completed"]


def test_audio_url_is_required(api):
    response = api.post("/v2/transcript", json={"speaker_labels": True})
    assert response.status_code == 400 and "audio_url" in response.json()["error"]


def test_speaker_labels_with_multichannel_is_a_400_with_an_error_body(api, fake):
    response = api.post("/v2/transcript", json={"audio_url": URL, "speaker_labels": True, "multichannel": True})
    assert response.status_code == 400 and response.json()["error"]
    assert fake.stats()["transcripts_created"] == 0


def test_an_unknown_key_is_401_with_the_documented_body(fake):
    response = httpx.post(f"{fake.base_url}/v2/transcript", json={"audio_url": URL},
                          headers={"authorization": "nope"})
    assert (response.status_code, response.json()) == (401, {"error": AUTH_ERROR})


def test_a_bearer_prefixed_key_is_refused_because_the_key_goes_bare(fake):
    response = httpx.get(f"{fake.base_url}/v2/transcript", headers={"authorization": f"Bearer {fake.api_key}"})
    assert response.status_code == 401


def test_diarized_words_and_utterances_are_in_milliseconds_with_lettered_speakers(api):
    doc = done(api, create(api, speaker_labels=True, speakers_expected=3)["id"])
    assert {u["speaker"] for u in doc["utterances"]} == {"A", "B", "C"}
    assert all(isinstance(w["start"], int) and w["end"] > w["start"] for w in doc["words"])
    assert doc["words"][0]["start"] >= 100  # milliseconds, not seconds
    assert all(w["speaker"] in ("A", "B", "C") for w in doc["words"])


def test_multichannel_words_carry_string_channels_from_1_and_audio_channels(api):
    doc = done(api, create(api, multichannel=True)["id"])
    assert doc["audio_channels"] == 2
    assert {u["channel"] for u in doc["utterances"]} == {"1", "2"}
    assert {w["channel"] for w in doc["words"]} == {"1", "2"}
    assert all(u["speaker"] == u["channel"] for u in doc["utterances"])


def test_without_diarization_there_are_no_utterances_and_words_have_no_speaker(api):
    doc = done(api, create(api)["id"])
    assert doc["utterances"] is None
    assert {w["speaker"] for w in doc["words"]} == {None}


def test_the_same_request_gets_the_same_words(api):
    first = done(api, create(api, speaker_labels=True)["id"])
    second = done(api, create(api, speaker_labels=True)["id"])
    assert first["words"] == second["words"] and first["id"] != second["id"]


def test_words_fit_inside_an_uploaded_wav_and_audio_duration_is_its_seconds(api):
    upload_url = api.post("/v2/upload", content=make_wav(4.0)).json()["upload_url"]
    doc = done(api, create(api, audio_url=upload_url)["id"])
    assert doc["audio_duration"] == 4
    assert doc["words"][-1]["end"] <= 4000


def test_a_failing_recording_ends_with_http_200_and_status_error(api):
    upload_url = api.post("/v2/upload", content=b"aai-fail: plain text, no audio").json()["upload_url"]
    transcript_id = done(api, create(api, audio_url=upload_url)["id"])["id"]
    response = api.get(f"/v2/transcript/{transcript_id}")
    assert response.status_code == 200
    assert response.json()["status"] == "error" and "does not appear to contain audio" in response.json()["error"]


def test_an_upload_url_that_does_not_exist_fails_with_a_download_error(api, fake):
    doc = done(api, create(api, audio_url=f"{fake.base_url}/upload/missing")["id"])
    assert doc["status"] == "error" and doc["error"].startswith("Download error")


def test_srt_and_vtt_are_plain_text_captions_split_at_chars_per_caption(api):
    transcript_id = done(api, create(api, speaker_labels=True)["id"])["id"]
    srt = api.get(f"/v2/transcript/{transcript_id}/srt").text
    vtt = api.get(f"/v2/transcript/{transcript_id}/vtt", params={"chars_per_caption": 20}).text
    assert srt.startswith("1\n00:00:00,") and " --> " in srt
    assert vtt.startswith("WEBVTT\n\n00:00:00.")
    cues = [block.splitlines()[-1] for block in vtt.strip().split("\n\n")[1:]]
    assert all(len(cue) <= 20 or " " not in cue for cue in cues)


def test_subtitles_before_completion_are_a_400(api, fake):
    fake.configure(latency_s=5.0)
    response = api.get(f"/v2/transcript/{create(api)['id']}/srt")
    assert response.status_code == 400 and response.json()["error"]


def test_the_list_is_newest_first_and_prev_url_pages_to_older_transcripts_with_before_id(api):
    ids = [create(api, audio_url=f"{URL}?n={n}")["id"] for n in range(5)]
    first = api.get("/v2/transcript", params={"limit": 2}).json()
    assert [t["id"] for t in first["transcripts"]] == ids[:-3:-1]
    assert first["page_details"]["result_count"] == 2 and first["page_details"]["next_url"] is None
    second = api.get(first["page_details"]["prev_url"]).json()
    assert [t["id"] for t in second["transcripts"]] == [ids[2], ids[1]]
    last = api.get("/v2/transcript", params={"limit": 2, "before_id": ids[1]}).json()
    assert [t["id"] for t in last["transcripts"]] == [ids[0]] and last["page_details"]["prev_url"] is None
    assert {"id", "status", "audio_url", "created", "resource_url"} <= set(last["transcripts"][0])


def test_delete_is_refused_while_processing_and_then_erases_the_data(api, fake):
    fake.configure(latency_s=0.2)
    transcript_id = create(api, speaker_labels=True)["id"]
    assert api.delete(f"/v2/transcript/{transcript_id}").status_code == 400
    done(api, transcript_id)
    deleted = api.delete(f"/v2/transcript/{transcript_id}").json()
    assert (deleted["text"], deleted["audio_url"], deleted["words"]) == ("Deleted by user.", "http://deleted_by_user", None)


def test_an_unknown_transcript_is_a_404(api):
    assert api.get("/v2/transcript/00000000-0000-0000-0000-000000000000").status_code == 404


def test_the_next_n_requests_fail_with_5xx_then_the_service_recovers(api, fake):
    fake.configure(fail_next_5xx=2)
    codes = [api.get("/v2/transcript").status_code for _ in range(3)]
    assert codes == [503, 503, 200]


def test_429_answers_carry_retry_after(api, fake):
    fake.configure(fail_next_429=1)
    response = api.get("/v2/transcript")
    assert response.status_code == 429 and response.headers["retry-after"] == "3"


def test_slow_recordings_stay_unfinished_past_the_normal_latency(api, fake):
    fake.configure(slow_latency_s=2.0)
    slow, normal = create(api, audio_url=f"{URL}?aai-slow")["id"], create(api)["id"]
    time.sleep(0.1)
    assert api.get(f"/v2/transcript/{slow}").json()["status"] in ("queued", "processing")
    assert api.get(f"/v2/transcript/{normal}").json()["status"] == "completed"


def test_a_lost_create_answer_still_created_the_transcript(api, fake):
    fake.configure(lose_next_create_answers=1)
    assert api.post("/v2/transcript", json={"audio_url": URL}).status_code == 500
    assert fake.stats()["transcripts_created"] == 1


def test_counters_record_uploads_creations_and_requests_by_route(api, fake):
    transcript_id = create(api, audio_url=api.post("/v2/upload", content=b"x" * 10).json()["upload_url"])["id"]
    api.get(f"/v2/transcript/{transcript_id}")
    stats = fake.stats()
    assert (stats["uploads"], stats["transcripts_created"]) == (1, 1)
    assert stats["requests"] == {"POST /v2/upload": 1, "POST /v2/transcript": 1, "GET /v2/transcript/{id}": 1}


def test_the_fake_is_written_from_the_docs_and_imports_nothing_of_callmine():
    tests_dir = Path(__file__).resolve().parents[2]
    imported: set[str] = set()
    # The fake's own files and the shared test server plumbing it runs on.
    for source in [*(tests_dir / "fake_assemblyai").glob("*.py"), tests_dir / "background_server.py"]:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module)
    assert not {name for name in imported if name.split(".")[0] in ("callmine", "include", "plugins")}
