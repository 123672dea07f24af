"""The fake OpenAI audio server keeps to OpenAI's public API shape (so the provider tests mean something)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import wave
from pathlib import Path

import httpx
import pytest

from tests.audio import write_wav
from tests.fake_openai_audio import DIARIZE_MODEL, FakeOpenAIAudio
from tests.http_helpers import make_wav

ROOT = Path(__file__).resolve().parents[3]
PATH = "/v1/audio/transcriptions"
VERBOSE = {"model": "whisper-1", "response_format": "verbose_json", "timestamp_granularities[]": ["word", "segment"]}


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAIAudio() as server:
        yield server


@pytest.fixture
def http(fake):
    fake.reset()
    with httpx.Client(base_url=fake.base_url, headers=fake.auth_headers, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("audio") / "call.wav", seconds=4.0).read_bytes()


def transcribe(http, content, filename="call.wav", **data):
    return http.post(PATH, files={"file": (filename, content)}, data=data)


def test_verbose_json_has_segments_and_timed_words(http, wav):
    body = transcribe(http, wav, **VERBOSE).json()
    assert {"task", "language", "duration", "text", "segments", "words"} <= set(body)
    assert body["duration"] == pytest.approx(4.0)
    assert {"id", "start", "end", "text", "avg_logprob", "no_speech_prob"} <= set(body["segments"][0])
    assert body["words"] and all(set(w) == {"word", "start", "end"} and w["start"] <= w["end"] for w in body["words"])


def test_words_are_only_where_the_audio_is_loud(http):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:  # two seconds of digital silence
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 16000)
    assert transcribe(http, buf.getvalue(), **VERBOSE).json()["words"] == []


def test_segment_granularity_alone_answers_no_words(http, wav):
    body = transcribe(http, wav, model="whisper-1", response_format="verbose_json",
                      **{"timestamp_granularities[]": "segment"}).json()
    assert "words" not in body and body["segments"]


def test_formats_a_model_does_not_serve_get_400(http, wav):
    refused = transcribe(http, wav, model="gpt-4o-transcribe", response_format="verbose_json")
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "response_format"
    no_verbose = transcribe(http, wav, model="whisper-1", **{"timestamp_granularities[]": "word"})
    assert no_verbose.status_code == 400  # granularities need verbose_json
    assert transcribe(http, wav, model="whisper-9").json()["error"]["code"] == "model_not_found"
    assert transcribe(http, wav, filename="call.amr", model="whisper-1").status_code == 400


def test_diarized_json_labels_segments_with_speakers_and_has_no_words(http, wav):
    body = transcribe(http, wav, model=DIARIZE_MODEL, response_format="diarized_json").json()
    assert {s["speaker"] for s in body["segments"]} == {"A", "B"}
    assert all(s["type"] == "transcript.text.segment" for s in body["segments"]) and "words" not in body


def test_long_diarized_inputs_need_a_chunking_strategy(http):
    long = make_wav(31.0)
    assert transcribe(http, long, model=DIARIZE_MODEL, response_format="diarized_json").status_code == 400
    ok = transcribe(http, long, model=DIARIZE_MODEL, response_format="diarized_json", chunking_strategy="auto")
    assert ok.status_code == 200


def test_rate_limits_carry_retry_after_for_the_next_n_requests(http, fake, wav):
    fake.configure(rate_limit_times=1, retry_after_s=3)
    limited = transcribe(http, wav, **VERBOSE)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert transcribe(http, wav, **VERBOSE).status_code == 200


def test_server_errors_for_the_next_n_requests(http, fake, wav):
    fake.configure(server_error_times=1, server_error_status=502)
    assert [transcribe(http, wav, **VERBOSE).status_code for _ in range(2)] == [502, 200]


def test_uploads_over_the_limit_get_413(http, fake, wav):
    fake.configure(max_upload_bytes=len(wav) - 1)
    assert transcribe(http, wav, **VERBOSE).status_code == 413


def test_a_bad_key_gets_401_with_the_key_echoed_masked(fake, wav):
    response = httpx.post(fake.base_url + PATH, files={"file": ("call.wav", wav)}, data=VERBOSE,
                          headers={"Authorization": "Bearer sk-wrong-key-0123456789"})
    assert response.status_code == 401
    message = response.json()["error"]["message"]
    assert "sk-wrong-key-0123456789" not in message and "*" in message


def test_requests_are_recorded_with_their_fields_and_audio(http, fake, tmp_path):
    stereo = write_wav(tmp_path / "s.wav", seconds=1.0, channels=2).read_bytes()
    transcribe(http, stereo, language="en", **VERBOSE)
    [seen] = fake.requests
    assert (seen.model, seen.response_format, seen.language) == ("whisper-1", "verbose_json", "en")
    assert (seen.granularities, seen.size, seen.channels, seen.sample_rate) == (["word", "segment"], len(stereo), 2, 8000)


def test_the_fake_imports_nothing_from_callmine_or_the_engine():
    code = ("import sys, tests.fake_openai_audio, tests.fake_openai_audio.__main__; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('callmine', 'include')))")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
