"""The OpenAI-compatible transcription provider against the fake OpenAI audio server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import wave

import numpy as np
import pytest

from callmine.providers.base import AudioSource, Fatal, JobRequest, Rejected, RetryLater
from callmine.providers.openai_audio import OpenAIAudioProvider, split_channels
from callmine.transcript import Diarization
from tests.audio import write_wav
from tests.fake_openai_audio import DIARIZE_MODEL, FakeOpenAIAudio

CONN_ID = "openai_audio_default"
STEREO = JobRequest(call_id="c1", diarization=Diarization.CHANNEL, speakers=2, idempotency_key="k1")
MONO = JobRequest(call_id="c1", diarization=Diarization.MODEL, speakers=2, idempotency_key="k1")


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAIAudio() as server:
        yield server


@pytest.fixture
def connect(fake, monkeypatch):
    """Point the connection at the fake (with its key, or another); reset the fake per test."""
    fake.reset()
    monkeypatch.delenv("CALLMINE_OPENAI_AUDIO_MODEL", raising=False)

    def _connect(key: str | None = None, **extra: object) -> OpenAIAudioProvider:
        conn = {"conn_type": "http", "host": fake.base_url, "password": key or fake.api_key, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        return OpenAIAudioProvider()

    return _connect


@pytest.fixture(scope="module")
def stereo_path(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("audio") / "call.wav", seconds=4.0, channels=2)


@pytest.fixture(scope="module")
def stereo(stereo_path):
    return stereo_path.read_bytes()


@pytest.fixture(scope="module")
def mono(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("audio") / "mono.wav", seconds=4.0, channels=1).read_bytes()


def channel_hashes(path) -> list[str]:
    """sha256 of each channel's 16-bit samples, straight from the stereo file."""
    with wave.open(str(path)) as wav:
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, wav.getnchannels())
    return [hashlib.sha256(pcm[:, ch].astype("<i2").tobytes()).hexdigest() for ch in range(pcm.shape[1])]


def request(provider, audio: AudioSource, req: JobRequest):
    async def go():
        async with provider.async_client() as client:
            return await provider.arequest(client, req, audio)

    return asyncio.run(go())


# -- stereo: one request per channel ---------------------------------------------------------


def test_stereo_is_split_into_two_exact_mono_channel_requests(connect, fake, stereo, stereo_path):
    assert isinstance(request(connect(), AudioSource("call.wav", content=stereo), STEREO), dict)
    seen = sorted(fake.requests, key=lambda r: r.filename)
    assert [r.filename for r in seen] == ["call.ch0.wav", "call.ch1.wav"]
    assert [(r.channels, r.sample_width, r.sample_rate) for r in seen] == [(1, 2, 8000), (1, 2, 8000)]
    assert [r.pcm_sha256 for r in seen] == channel_hashes(stereo_path)  # the exact samples, untouched


def test_each_channels_answer_becomes_ch0_or_ch1(connect, fake, stereo, stereo_path):
    provider = connect()
    raw = request(provider, AudioSource("call.wav", content=stereo), STEREO)
    assert json.loads(json.dumps(raw)) == raw  # staged as JSON between trigger and parse
    served = {r.pcm_sha256: r.answer for r in fake.requests}
    ch0, ch1 = (served[h] for h in channel_hashes(stereo_path))
    transcript = provider.parse(raw, STEREO, 4.0).transcript
    assert transcript.diarization is Diarization.CHANNEL
    for key, answer in (("ch0", ch0), ("ch1", ch1)):
        texts = [t for t, s in zip(transcript.segments.text, transcript.segments.speaker) if s == key]
        assert sorted(texts) == sorted(seg["text"].strip() for seg in answer["segments"])
        words = [w for w, s in zip(transcript.words.word, transcript.words.speaker) if s == key]
        assert sorted(words) == sorted(w["word"] for w in answer["words"])
    assert set(transcript.segments.channel) == {0, 1}


def test_stereo_billing_is_both_requests_durations(connect, stereo):
    provider = connect()
    fetched = provider.parse(request(provider, AudioSource("call.wav", content=stereo), STEREO), STEREO, 4.0)
    assert fetched.billed_seconds == pytest.approx(8.0)
    assert fetched.transcript.audio_seconds == pytest.approx(4.0)


def test_channels_above_16_khz_are_sent_at_16_khz(tmp_path):
    wav = write_wav(tmp_path / "hifi.wav", seconds=1.0, channels=2, rate=44_100).read_bytes()
    channels = split_channels(wav)
    with wave.open(__import__("io").BytesIO(channels[0])) as out:
        assert (out.getnchannels(), out.getsampwidth(), out.getframerate()) == (1, 2, 16_000)
        assert out.getnframes() == pytest.approx(16_000, abs=32)


def test_a_mono_recording_asked_to_split_by_channel_is_rejected_without_upload(connect, fake, mono):
    outcome = request(connect(), AudioSource("call.wav", content=mono), STEREO)
    assert isinstance(outcome, Rejected) and "1 channel" in outcome.reason
    assert fake.requests == []


def test_undecodable_stereo_is_rejected_without_upload(connect, fake):
    outcome = request(connect(), AudioSource("call.wav", content=b"RIFF not really a wav"), STEREO)
    assert isinstance(outcome, Rejected) and "cannot split" in outcome.reason
    assert fake.requests == []


def test_one_failed_channel_fails_the_whole_call_for_now(connect, fake, stereo):
    fake.configure(rate_limit_times=1)
    assert isinstance(request(connect(), AudioSource("call.wav", content=stereo), STEREO), RetryLater)


# -- mono -------------------------------------------------------------------------------------


def test_mono_is_one_request_and_one_speaker(connect, fake, mono):
    provider = connect()
    transcript = provider.parse(request(provider, AudioSource("mono.wav", content=mono), MONO), MONO, 4.0).transcript
    assert len(fake.requests) == 1 and fake.requests[0].filename == "mono.wav"
    assert transcript.speakers == ["speaker_0"] and transcript.diarization is Diarization.NONE
    assert set(transcript.words.speaker) == {"speaker_0"}
    assert all(s <= e for s, e in zip(transcript.words.start, transcript.words.end))


def test_the_request_asks_for_verbose_json_with_word_and_segment_timestamps(connect, fake, mono):
    req = JobRequest(call_id="c1", diarization=Diarization.MODEL, speakers=2, idempotency_key="k", language="en-US")
    request(connect(), AudioSource("mono.wav", content=mono), req)
    [seen] = fake.requests
    assert (seen.model, seen.response_format, seen.language) == ("whisper-1", "verbose_json", "en")
    assert sorted(seen.granularities) == ["segment", "word"]


def test_the_model_comes_from_the_connection_and_the_environment_overrides_it(connect, fake, mono, monkeypatch):
    request(connect(model="gpt-4o-mini-transcribe", response_format="json"), AudioSource("m.wav", content=mono), MONO)
    monkeypatch.setenv("CALLMINE_OPENAI_AUDIO_MODEL", "whisper-1")
    request(connect(model="gpt-4o-mini-transcribe"), AudioSource("m.wav", content=mono), MONO)
    assert [r.model for r in fake.requests] == ["gpt-4o-mini-transcribe", "whisper-1"]
    assert [r.status for r in fake.requests] == [200, 200]


def test_diarized_json_speakers_are_used_when_present(connect, fake, mono):
    provider = connect(model=DIARIZE_MODEL)
    raw = request(provider, AudioSource("mono.wav", content=mono), MONO)
    seen = fake.requests[0]
    assert (seen.response_format, seen.chunking_strategy, seen.granularities) == ("diarized_json", "auto", [])
    transcript = provider.parse(raw, MONO, 4.0).transcript
    assert transcript.diarization is Diarization.MODEL
    assert transcript.speakers == ["speaker_0", "speaker_1"]
    assert transcript.original_speakers == {"speaker_0": "A", "speaker_1": "B"}
    labels = [seg["speaker"] for seg in raw["segments"]]
    assert transcript.segments.speaker == [{"A": "speaker_0", "B": "speaker_1"}[label] for label in labels]


def test_speaker_labelled_verbose_json_segments_are_used_and_words_follow_them(connect, fake, mono):
    fake.configure(speakers_in_verbose_json=True)
    provider = connect()
    transcript = provider.parse(request(provider, AudioSource("mono.wav", content=mono), MONO), MONO, 4.0).transcript
    assert transcript.speakers == ["speaker_0", "speaker_1"]
    for speaker, idx in zip(transcript.words.speaker, transcript.words.segment_idx):
        assert speaker == transcript.segments.speaker[idx]


# -- refusals and failures ---------------------------------------------------------------------


def test_a_bad_key_is_fatal_names_the_connection_and_never_shows_the_key(connect, mono):
    secret = "sk-live-this-is-secret-0123456789"
    outcome = request(connect(key=secret), AudioSource("mono.wav", content=mono), MONO)
    assert isinstance(outcome, Fatal) and CONN_ID in outcome.reason and "401" in outcome.reason
    assert secret not in outcome.reason and secret[-4:] not in outcome.reason  # not even OpenAI's masked echo


def test_a_missing_connection_is_fatal_and_says_how_to_create_it(monkeypatch, mono):
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", raising=False)
    outcome = request(OpenAIAudioProvider(), AudioSource("mono.wav", content=mono), MONO)
    assert isinstance(outcome, Fatal) and "AIRFLOW_CONN_OPENAI_AUDIO_DEFAULT" in outcome.reason


def test_a_model_the_server_does_not_know_is_fatal(connect, mono):
    outcome = request(connect(model="whisper-9"), AudioSource("mono.wav", content=mono), MONO)
    assert isinstance(outcome, Fatal) and "model" in outcome.reason


def test_429_is_retry_later_after_the_servers_retry_after(connect, fake, mono):
    fake.configure(rate_limit_times=1, retry_after_s=7.5)
    outcome = request(connect(), AudioSource("mono.wav", content=mono), MONO)
    assert isinstance(outcome, RetryLater) and outcome.after_s == pytest.approx(7.5)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_retry_later(connect, fake, mono, status):
    fake.configure(server_error_times=1, server_error_status=status)
    assert isinstance(request(connect(), AudioSource("mono.wav", content=mono), MONO), RetryLater)


def test_413_from_the_server_is_rejected(connect, fake, mono):
    fake.configure(max_upload_bytes=1000)
    outcome = request(connect(), AudioSource("mono.wav", content=mono), MONO)
    assert isinstance(outcome, Rejected) and "413" in outcome.reason


def test_over_the_per_request_limit_is_rejected_before_any_upload(connect, fake, mono):
    outcome = request(connect(max_upload_mb=0.01), AudioSource("mono.wav", content=mono), MONO)
    assert isinstance(outcome, Rejected) and "per-request limit" in outcome.reason and CONN_ID in outcome.reason
    assert fake.requests == []


def test_the_limit_is_per_request_so_a_stereo_call_whose_channels_fit_is_sent(connect, fake, stereo):
    limit_mb = 0.75 * len(stereo) / 1048576  # the whole file is over it, each channel (half) is not
    assert isinstance(request(connect(max_upload_mb=limit_mb), AudioSource("call.wav", content=stereo), STEREO), dict)
    assert len(fake.requests) == 2


@pytest.mark.parametrize("filename", ["call.amr", "call.aac", "call"])
def test_a_format_openai_does_not_take_is_refused_by_check(filename):
    refused = OpenAIAudioProvider().check(filename, 1000)
    assert isinstance(refused, Rejected) and "convert" in refused.reason
    assert OpenAIAudioProvider().check("call.wav", 10**9) is None  # size is checked per request, later


def test_an_unreachable_server_is_retry_later(monkeypatch, mono):
    conn = {"conn_type": "http", "host": "http://127.0.0.1:9"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    assert isinstance(request(OpenAIAudioProvider(), AudioSource("mono.wav", content=mono), MONO), RetryLater)
