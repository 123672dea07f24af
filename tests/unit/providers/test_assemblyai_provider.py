"""The AssemblyAI hook and provider, against the faithful fake of AssemblyAI's v2 API."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

from callmine.hooks.assemblyai import AssemblyAIConfigError, AssemblyAIHook
from callmine.providers.assemblyai import AssemblyAIProvider
from callmine.providers.assemblyai_result import decode_transcript, normalize_assemblyai
from callmine.providers.base import AudioSource, Fatal, JobRequest, JobStatus, Rejected, RetryLater, Submitted
from callmine.retry import Backoff
from callmine.transcript import Diarization
from tests.fake_assemblyai import FakeAssemblyAI, FakeAssemblyAIConfig
from tests.http_helpers import make_wav

FAST = Backoff(base_s=0.01, cap_s=0.05)
URL = "https://recordings.example.com/2025/06/01/call-0001.wav"


@pytest.fixture(scope="module")
def fake():
    with FakeAssemblyAI(FakeAssemblyAIConfig(latency_s=0.05, retry_after_s=0)) as server:
        yield server


@pytest.fixture(autouse=True)
def connection(fake, monkeypatch):
    """A fresh fake per test, reached through the ``assemblyai_default`` Airflow connection."""
    fake.reset()
    conn = {"conn_type": "http", "host": fake.base_url, "password": fake.api_key}
    monkeypatch.setenv("AIRFLOW_CONN_ASSEMBLYAI_DEFAULT", json.dumps(conn))


def provider(*, max_attempts: int = 5, **kwargs) -> AssemblyAIProvider:
    return AssemblyAIProvider(hook=AssemblyAIHook(backoff=FAST, max_attempts=max_attempts), **kwargs)


def request(diarization: Diarization = Diarization.MODEL, *, speakers: int = 2, language: str | None = None):
    return JobRequest(call_id="c1", diarization=diarization, speakers=speakers, idempotency_key="k1",
                      language=language)


def wav(seconds: float = 20.0, channels: int = 1, seed: int = 0) -> AudioSource:
    return AudioSource(filename="call.wav", content=make_wav(seconds, channels, seed))


def run(coro):
    return asyncio.run(coro)


async def finished(p: AssemblyAIProvider, job_id: str) -> JobStatus:
    async with p.async_client() as client:
        for _ in range(200):
            status = await p.apoll_job(client, job_id)
            assert isinstance(status, JobStatus), status
            if status.terminal:
                return status
            await asyncio.sleep(0.01)
    raise AssertionError(f"transcript {job_id} never finished")


def transcribe(p: AssemblyAIProvider, audio: AudioSource, diarization: Diarization = Diarization.MODEL):
    submitted = p.submit_job(request(diarization), audio)
    assert isinstance(submitted, Submitted), submitted

    async def go():
        assert (await finished(p, submitted.job_id)).status == "completed"
        async with p.async_client() as client:
            return await p.afetch(client, submitted.job_id, diarization)

    return submitted.job_id, run(go())


def raw_transcript(fake, job_id: str) -> dict:
    return httpx.get(f"{fake.base_url}/v2/transcript/{job_id}", headers=fake.auth_headers).json()


# -- what submit sends ------------------------------------------------------------------------


def test_mono_submit_asks_for_speaker_labels_with_the_expected_speakers_and_never_multichannel(fake):
    assert isinstance(provider().submit_job(request(Diarization.MODEL, speakers=3), wav()), Submitted)
    body = fake.stats()["created_bodies"][0]
    assert body["speaker_labels"] is True and body["speakers_expected"] == 3
    assert "multichannel" not in body


def test_stereo_submit_asks_for_multichannel_and_never_speaker_labels(fake):
    assert isinstance(provider().submit_job(request(Diarization.CHANNEL), wav(channels=2)), Submitted)
    body = fake.stats()["created_bodies"][0]
    assert body["multichannel"] is True
    assert "speaker_labels" not in body and "speakers_expected" not in body


def test_local_audio_is_uploaded_first_and_transcribed_from_its_upload_url(fake):
    provider().submit_job(request(), wav())
    stats = fake.stats()
    assert stats["uploads"] == 1
    assert stats["created_bodies"][0]["audio_url"].startswith(f"{fake.base_url}/upload/")


def test_url_audio_is_sent_as_is_without_an_upload(fake):
    provider().submit_job(request(), AudioSource(filename="call-0001.wav", url=URL))
    stats = fake.stats()
    assert stats["uploads"] == 0
    assert stats["created_bodies"][0]["audio_url"] == URL


def test_a_known_language_is_sent_as_language_code_otherwise_language_detection(fake):
    p = provider()
    p.submit_job(request(language="en"), wav(seed=1))
    p.submit_job(request(), wav(seed=2))
    with_language, without = fake.stats()["created_bodies"]
    assert with_language["language_code"] == "en" and "language_detection" not in with_language
    assert without["language_detection"] is True and "language_code" not in without


def test_the_speech_models_list_wins_over_speech_model_and_nothing_is_sent_when_unconfigured(fake):
    provider(speech_model="universal", speech_models=["universal-3-pro"]).submit_job(request(), wav(seed=1))
    provider(speech_model="slam-1").submit_job(request(), wav(seed=2))
    provider().submit_job(request(), wav(seed=3))
    both, single, none = fake.stats()["created_bodies"]
    assert both["speech_models"] == ["universal-3-pro"] and "speech_model" not in both
    assert single["speech_model"] == "slam-1"
    assert "speech_model" not in none and "speech_models" not in none


# -- what fetch returns -----------------------------------------------------------------------


def test_word_and_segment_times_are_converted_from_milliseconds_to_seconds(fake):
    job_id, fetched = transcribe(provider(), wav())
    raw = raw_transcript(fake, job_id)
    assert fetched.transcript.words.start == pytest.approx([w["start"] / 1000 for w in raw["words"]])
    assert fetched.transcript.words.end == pytest.approx([w["end"] / 1000 for w in raw["words"]])
    assert fetched.transcript.segments.start == pytest.approx([u["start"] / 1000 for u in raw["utterances"]])


def test_diarized_speakers_a_b_become_speaker_0_speaker_1_keeping_the_original_labels(fake):
    _, fetched = transcribe(provider(), wav(), Diarization.MODEL)
    t = fetched.transcript
    assert t.speakers == ["speaker_0", "speaker_1"]
    assert t.original_speakers == {"speaker_0": "A", "speaker_1": "B"}
    assert set(t.words.speaker) == {"speaker_0", "speaker_1"}
    assert t.segments.channel == [None] * len(t.segments)


def test_speakers_are_numbered_in_order_of_first_appearance_not_by_letter():
    doc = decode_transcript(json.dumps({
        "id": "t1", "status": "completed", "audio_duration": 3, "text": "Hello. Hi.",
        "utterances": [{"start": 100, "end": 900, "text": "Hello.", "speaker": "B"},
                       {"start": 1000, "end": 1800, "text": "Hi.", "speaker": "A"}],
        "words": [{"text": "Hello.", "start": 100, "end": 900, "confidence": 0.9, "speaker": "B"},
                  {"text": "Hi.", "start": 1000, "end": 1800, "confidence": 0.9, "speaker": "A"}],
    }).encode())
    t = normalize_assemblyai(doc, Diarization.MODEL)
    assert t.original_speakers == {"speaker_0": "B", "speaker_1": "A"}
    assert t.words.speaker == ["speaker_0", "speaker_1"]


def test_channels_1_and_2_become_ch0_and_ch1_with_zero_based_segment_channels(fake):
    _, fetched = transcribe(provider(), wav(channels=2), Diarization.CHANNEL)
    t = fetched.transcript
    assert set(t.speakers) == {"ch0", "ch1"}
    assert t.original_speakers == {"ch0": "1", "ch1": "2"}
    assert all(t.segments.channel[i] == int(s[2:]) for i, s in enumerate(t.segments.speaker))
    # every word sits in a segment of its own channel, even where the parties talk over each other
    assert all(t.segments.speaker[seg] == spk for seg, spk in zip(t.words.segment_idx, t.words.speaker))


def test_without_diarization_one_speaker_talks_in_sentence_segments(fake):
    _, fetched = transcribe(provider(), wav(), Diarization.NONE)
    t = fetched.transcript
    assert t.speakers == ["speaker_0"] and len(t.segments) > 1
    assert all(text.endswith((".", "?", "!")) for text in t.segments.text)


def test_srt_and_vtt_subtitles_are_fetched_and_billed_seconds_is_the_audio_duration(fake):
    _, fetched = transcribe(provider(), wav(seconds=20.0))
    assert fetched.subtitles["srt"].startswith(b"1\n00:00:")
    assert fetched.subtitles["vtt"].startswith(b"WEBVTT")
    assert fetched.billed_seconds == 20


# -- outcomes instead of HTTP -----------------------------------------------------------------


def test_a_failed_transcript_answered_with_http_200_polls_as_failed_with_the_reason(fake):
    p = provider()
    submitted = p.submit_job(request(), AudioSource(filename="x.wav", content=b"RIFF aai-fail not really audio"))
    status = run(finished(p, submitted.job_id))
    assert status.status == "failed" and "does not appear to contain audio" in status.error


def test_a_rejected_key_is_fatal_naming_the_connection_and_never_the_key(fake, monkeypatch):
    bad_key = "aai_wrong_key_5f3e9c1d"
    conn = {"conn_type": "http", "host": fake.base_url, "password": bad_key}
    monkeypatch.setenv("AIRFLOW_CONN_ASSEMBLYAI_DEFAULT", json.dumps(conn))
    outcome = provider().submit_job(request(), AudioSource(filename="c.wav", url=URL))
    assert isinstance(outcome, Fatal)
    assert "assemblyai_default" in outcome.reason and bad_key not in outcome.reason


def test_a_missing_connection_host_is_fatal_and_says_how_to_set_the_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ASSEMBLYAI_DEFAULT", json.dumps({"conn_type": "http", "password": "k"}))
    outcome = provider().submit_job(request(), AudioSource(filename="c.wav", url=URL))
    assert isinstance(outcome, Fatal) and "AIRFLOW_CONN_ASSEMBLYAI_DEFAULT" in outcome.reason
    with pytest.raises(AssemblyAIConfigError, match="no host"):
        AssemblyAIHook().get_endpoint()


def test_no_connection_at_all_is_fatal_and_says_how_to_create_it(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_ASSEMBLYAI_DEFAULT")
    outcome = provider().submit_job(request(), AudioSource(filename="c.wav", url=URL))
    assert isinstance(outcome, Fatal) and "AIRFLOW_CONN_ASSEMBLYAI_DEFAULT" in outcome.reason


def test_an_unknown_speech_model_is_fatal_configuration_not_a_rejected_recording(fake):
    outcome = provider(speech_model="no-such-model").submit_job(request(), wav())
    assert isinstance(outcome, Fatal) and "speech model" in outcome.reason


def test_a_400_for_the_recording_is_rejected(fake):
    outcome = provider().submit_job(request(), AudioSource(filename="c.wav", url=URL + "?aai-reject"))
    assert isinstance(outcome, Rejected) and "could not be accepted" in outcome.reason


def test_429_on_submit_is_retried_then_submitted(fake):
    fake.configure(fail_next_429=2)
    assert isinstance(provider(reuse_by_url=False).submit_job(request(), AudioSource("c.wav", url=URL)), Submitted)
    assert fake.stats()["requests"]["POST /v2/transcript"] == 3


def test_5xx_on_submit_is_retried_then_submitted(fake):
    fake.configure(fail_next_5xx=2)  # the create, then the check whether it happened after all
    assert isinstance(provider(reuse_by_url=False).submit_job(request(), AudioSource("c.wav", url=URL)), Submitted)
    assert fake.stats()["transcripts_created"] == 1


def test_a_create_whose_answer_was_lost_is_found_instead_of_created_twice(fake):
    fake.configure(lose_next_create_answers=1)  # created, but the client sees a 500
    outcome = provider().submit_job(request(), wav())
    assert isinstance(outcome, Submitted)
    assert fake.stats()["transcripts_created"] == 1
    assert outcome.job_id == fake.stats()["created_ids"][0]


def test_a_persistent_429_is_retry_later_with_the_servers_retry_after(fake):
    fake.configure(fail_next_429=100, retry_after_s=7)
    outcome = provider(max_attempts=1).submit_job(request(), AudioSource("c.wav", url=URL))
    assert isinstance(outcome, RetryLater) and outcome.after_s == 7


def test_a_persistent_5xx_is_retry_later(fake):
    fake.configure(fail_next_5xx=100)
    assert isinstance(provider(max_attempts=3).submit_job(request(), wav()), RetryLater)


def test_a_poll_during_an_outage_is_retry_later_and_the_next_round_sees_the_job(fake):
    p = provider()
    submitted = p.submit_job(request(), wav())
    fake.configure(fail_next_5xx=1)

    async def two_rounds():
        async with p.async_client() as client:
            return await p.apoll_job(client, submitted.job_id), await p.apoll_job(client, submitted.job_id)

    during, after = run(two_rounds())
    assert isinstance(during, RetryLater)
    assert isinstance(after, JobStatus) and after.job_id == submitted.job_id


# -- finding, deleting, the key ----------------------------------------------------------------


def test_find_job_finds_an_existing_transcript_by_audio_url_across_list_pages(fake):
    p = provider(reuse_by_url=False, page_size=2)
    wanted = p.submit_job(request(), AudioSource("c.wav", url=URL))
    for n in range(5):  # newer transcripts push it to the third page
        p.submit_job(request(), AudioSource("c.wav", url=f"{URL}?n={n}"))
    assert p.find_job(URL) == wanted.job_id
    assert fake.stats()["requests"]["GET /v2/transcript"] == 3
    assert p.find_job(URL + "?never-submitted") is None


def test_submitting_a_url_again_reuses_its_existing_transcript(fake):
    p = provider()
    first, again = p.submit_job(request(), AudioSource("c.wav", url=URL)), p.submit_job(request(), AudioSource("c.wav", url=URL))
    assert first.job_id == again.job_id and fake.stats()["transcripts_created"] == 1


def test_delete_removes_the_transcript_data_and_tolerates_a_missing_transcript(fake):
    p = provider()
    job_id, _ = transcribe(p, wav())
    p.delete_job(job_id)
    assert raw_transcript(fake, job_id)["text"] == "Deleted by user."
    p.delete_job("00000000-0000-0000-0000-000000000000")  # 404: nothing to do


def test_the_key_is_sent_as_a_bare_authorization_header_and_never_logged(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.configure(fail_next_5xx=1)  # a retry writes a warning: it must not carry the key either
    transcribe(provider(), wav())
    assert set(fake.service.authorizations) == {fake.api_key}
    assert fake.api_key not in caplog.text
    assert fake.api_key not in repr(AssemblyAIHook().get_endpoint())
