"""The embedded engine's OpenAI-compatible ``POST /v1/audio/transcriptions``, on real speech.

The engine runs its real transcriber (tiny.en in a worker process) on excerpts of the
shipped sample calls; the OpenAI provider is pointed at it like at any compatible server.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import wave
from pathlib import Path

import httpx
import pytest

from callmine.providers.base import AudioSource, JobRequest, Rejected
from callmine.providers.openai_audio import OpenAIAudioProvider
from callmine.transcript import Diarization
from include.engine.config import DEFAULT_PROCESSOR
from tests.unit.engine_service.helpers import API_KEY, EngineServer, engine_config

CALLS = Path(__file__).resolve().parents[3] / "include" / "samples" / "calls"
MONO_CALL = CALLS / "2026-11-19_subscription-cancel_mono.wav"
STEREO_CALL = CALLS / "2026-11-20_acme-renewal_stereo.wav"
PATH = "/v1/audio/transcriptions"
VERBOSE = {"model": "whisper-1", "response_format": "verbose_json", "timestamp_granularities[]": ["word", "segment"]}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    config = engine_config(tmp_path_factory.mktemp("engine"), processor=DEFAULT_PROCESSOR, workers=1, max_upload_mb=5)
    with EngineServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def client(engine):
    with httpx.Client(base_url=engine.base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120) as c:
        yield c


def excerpt(path: Path, seconds: float) -> bytes:
    """The first ``seconds`` of a sample call, as a WAV of the same format."""
    with wave.open(str(path)) as src:
        frames = src.readframes(int(src.getframerate() * seconds))
        params = src.getparams()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setparams(params)
        out.writeframes(frames)
    return buf.getvalue()


def truth_words(path: Path, until_s: float, channel: int | None = None) -> set[str]:
    truth = json.loads(path.with_name(path.stem + ".truth.json").read_text())
    turns = [t for t in truth["turns"] if t["end"] <= until_s and (channel is None or t["channel"] == channel)]
    return {w for t in turns for w in re.findall(r"[a-z]+", t["text"].lower()) if len(w) > 3}


def heard(words: list[str]) -> set[str]:
    return {w for word in words for w in re.findall(r"[a-z]+", word.lower())}


def test_the_engine_transcribes_a_sample_call_and_its_words_carry_times(client):
    response = client.post(PATH, files={"file": ("call.wav", excerpt(MONO_CALL, 12.0), "audio/wav")}, data=VERBOSE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "transcribe" and body["duration"] == pytest.approx(12.0, abs=0.1)
    words = body["words"]
    assert len(heard([w["word"] for w in words]) & truth_words(MONO_CALL, 12.0)) >= 3
    assert all(0 <= w["start"] <= w["end"] <= body["duration"] for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    assert body["segments"] and {"id", "start", "end", "text"} <= set(body["segments"][0])


def test_without_word_granularity_the_engine_answers_segments_only(client):
    data = {"model": "whisper-1", "response_format": "verbose_json"}
    body = client.post(PATH, files={"file": ("call.wav", excerpt(MONO_CALL, 6.0), "audio/wav")}, data=data).json()
    assert "words" not in body and body["segments"]


def test_the_openai_provider_splits_a_stereo_call_into_ch0_and_ch1_on_the_engine(engine, monkeypatch):
    conn = {"conn_type": "http", "host": engine.base_url, "password": API_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_OPENAI_AUDIO_DEFAULT", json.dumps(conn))
    provider = OpenAIAudioProvider()
    request = JobRequest(call_id="acme", diarization=Diarization.CHANNEL, speakers=2, idempotency_key="k")

    async def go():
        async with provider.async_client() as http:
            return await provider.arequest(http, request, AudioSource("acme.wav", content=excerpt(STEREO_CALL, 18.0)))

    raw = asyncio.run(go())
    assert isinstance(raw, dict), raw
    transcript = provider.parse(raw, request, 18.0).transcript
    assert transcript.speakers == ["ch0", "ch1"]
    for channel, key in ((0, "ch0"), (1, "ch1")):  # the agent is on ch0, the customer on ch1
        said = [w for w, s in zip(transcript.words.word, transcript.words.speaker) if s == key]
        assert len(heard(said) & truth_words(STEREO_CALL, 18.0, channel)) >= 2, (key, said)
    assert all(s is not None and s <= e for s, e in zip(transcript.words.start, transcript.words.end))


def test_the_engine_endpoint_wants_the_same_key_as_the_jobs_api(engine):
    response = httpx.post(engine.base_url + PATH, files={"file": ("call.wav", b"RIFF", "audio/wav")}, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_the_engine_refuses_diarized_json_because_it_does_not_diarize(client):
    data = {"model": "whisper-1", "response_format": "diarized_json"}
    response = client.post(PATH, files={"file": ("call.wav", excerpt(MONO_CALL, 1.0), "audio/wav")}, data=data)
    assert response.status_code == 400 and "diarize" in response.json()["error"]["message"]


def test_audio_the_engine_cannot_decode_is_rejected_for_that_recording(engine, monkeypatch):
    conn = {"conn_type": "http", "host": engine.base_url, "password": API_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_OPENAI_AUDIO_DEFAULT", json.dumps(conn))
    provider = OpenAIAudioProvider()
    request = JobRequest(call_id="bad", diarization=Diarization.MODEL, speakers=2, idempotency_key="k")

    async def go():
        async with provider.async_client() as http:
            return await provider.arequest(http, request, AudioSource("bad.wav", content=b"not audio " * 50))

    outcome = asyncio.run(go())
    assert isinstance(outcome, Rejected) and "decode" in outcome.reason


def test_each_request_is_an_ordinary_job_visible_through_the_jobs_api(client):
    client.post(PATH, files={"file": ("visible.wav", excerpt(MONO_CALL, 2.0), "audio/wav")}, data={"model": "x"})
    jobs = client.get("/v1/transcription/jobs", params={"limit": 100}).json()["data"]
    assert any(j.get("filename") == "visible.wav" and j["status"] == "completed" for j in jobs)
