"""The CallMissed provider against the fake CallMissed service (written from the public docs)."""

from __future__ import annotations

import asyncio
import json

import pytest

from callmine.providers.base import AudioSource, Fatal, JobRequest, Rejected, RetryLater
from callmine.providers.callmissed import CallMissedProvider, parse_analysis
from callmine.transcript import Diarization
from tests.audio import write_wav
from tests.fake_callmissed import ANALYSIS_VARIANTS, FakeCallMissed

CONN_ID = "callmissed_default"
REQUEST = JobRequest(call_id="c1", diarization=Diarization.CHANNEL, speakers=2, idempotency_key="k1")


@pytest.fixture(scope="module")
def fake():
    with FakeCallMissed() as server:
        yield server


@pytest.fixture
def connect(fake, monkeypatch):
    """Point the connection at the fake (with its key, or another); reset the fake per test."""
    fake.reset()

    def _connect(key: str | None = None, **extra: object) -> CallMissedProvider:
        conn = {"conn_type": "http", "host": fake.base_url, "password": key or fake.api_key, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        return CallMissedProvider()

    return _connect


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("audio") / "call.wav", seconds=3.0).read_bytes()


def request(provider, audio: AudioSource, req: JobRequest = REQUEST):
    async def go():
        async with provider.async_client() as client:
            return await provider.arequest(client, req, audio)

    return asyncio.run(go())


def answer(transcript: str, speaker_timing: dict | None = None, analysis: str = "", summary: str | None = None) -> dict:
    return {"transcript": transcript, "speaker_timing": speaker_timing or {}, "analysis": analysis,
            "summary": summary, "generated_at": "2026-04-12T10:00:00Z"}


DOC_TRANSCRIPT = ("SPEAKER_1: Namaste, main aapki kaise madad kar sakta hoon?\n"
                  "SPEAKER_2: Mujhe apne order ke baare mein jaanna hai.")


# -- transcript ------------------------------------------------------------------------------


def test_untimed_segments_never_get_invented_times():
    fetched = CallMissedProvider().parse(answer(DOC_TRANSCRIPT, {"SPEAKER_1": 45.2}), REQUEST, 90.0)
    segments = fetched.transcript.segments
    assert segments.start == [None, None] and segments.end == [None, None]
    assert segments.channel == [None, None]
    words = fetched.transcript.words  # the segments' tokens, as untimed as their segments
    assert words.word[:3] == ["Namaste,", "main", "aapki"]
    assert set(words.start) == {None} and set(words.end) == {None}


def test_speaker_n_becomes_speaker_n_minus_1_with_the_service_labels_kept():
    fetched = CallMissedProvider().parse(answer(DOC_TRANSCRIPT), REQUEST, None)
    transcript = fetched.transcript
    assert transcript.segments.speaker == ["speaker_0", "speaker_1"]
    assert transcript.original_speakers == {"speaker_0": "SPEAKER_1", "speaker_1": "SPEAKER_2"}
    assert transcript.segments.text[1] == "Mujhe apne order ke baare mein jaanna hai."
    assert transcript.diarization is Diarization.MODEL


def test_speakers_are_numbered_in_order_of_first_appearance():
    fetched = CallMissedProvider().parse(answer("SPEAKER_2: Hello?\nSPEAKER_1: Hi, Acme support."), REQUEST, None)
    assert fetched.transcript.original_speakers == {"speaker_0": "SPEAKER_2", "speaker_1": "SPEAKER_1"}


def test_odd_transcript_lines_keep_every_word():
    text = "Speaker 1: Hello,\nhow can I help?\n\n**SPEAKER_02:** My order is late."
    segments = CallMissedProvider().parse(answer(text), REQUEST, None).transcript.segments
    assert segments.text == ["Hello, how can I help?", "My order is late."]
    assert segments.speaker == ["speaker_0", "speaker_1"]


def test_speaker_timing_becomes_talk_seconds_per_canonical_speaker():
    fetched = CallMissedProvider().parse(
        answer(DOC_TRANSCRIPT, {"SPEAKER_1": 45.2, "SPEAKER_2": 38.7}), REQUEST, 90.0)
    assert fetched.speaker_talk_s == {"speaker_0": 45.2, "speaker_1": 38.7}
    assert fetched.billed_seconds == pytest.approx(83.9)


def test_without_speaker_timing_talk_and_billed_seconds_stay_unknown():
    fetched = CallMissedProvider().parse(answer(DOC_TRANSCRIPT), REQUEST, 90.0)
    assert fetched.speaker_talk_s is None and fetched.billed_seconds is None


# -- analysis --------------------------------------------------------------------------------


def test_documented_analysis_lines_become_typed_insights():
    insights = parse_analysis(ANALYSIS_VARIANTS["documented"], "Order inquiry, resolved successfully")
    assert insights.summary == "Order inquiry, resolved successfully"
    assert insights.sentiment == "neutral"
    dims = insights.dimensions
    assert dims.intent == "Billing dispute about a duplicate charge"
    assert (dims.resolution, dims.escalation_risk, dims.satisfaction_score) == ("resolved", "low", 8)
    assert dims.agent_performance == "Good" and dims.compliance == "Compliant"
    assert dims.key_topics == ["billing", "duplicate charge", "refund"]
    assert [a.text for a in insights.action_items] == ["Refund the duplicate charge", "Email the customer a confirmation"]


def test_odd_analysis_text_is_parsed_into_typed_fields():
    insights = parse_analysis(ANALYSIS_VARIANTS["markdown"])  # bullets, bold, case, "4/10", "High risk"
    dims = insights.dimensions
    assert insights.sentiment == "negative"
    assert dims.intent == "Get a refund"
    assert dims.resolution == "partially_resolved"
    assert dims.agent_performance == "Empathetic, followed the script"
    assert dims.escalation_risk == "high"
    assert dims.key_topics == ["Billing", "Refund request"]
    assert [a.text for a in insights.action_items] == ["Process refund within 3 days", "Call the customer back on Friday"]
    assert dims.satisfaction_score == 4


@pytest.mark.parametrize(("line", "score"), [
    ("Satisfaction Score: 8/10", 8), ("satisfaction score:  9 ", 9), ("CSAT: 4/5", 8),
    ("Customer Satisfaction: 70%", 7), ("Satisfaction Score (1-10): seven", 7), ("Satisfaction Score: 12", None),
])
def test_satisfaction_scores_in_any_notation_become_1_to_10(line, score):
    assert parse_analysis(line).dimensions.satisfaction_score == score


def test_analysis_values_that_say_nothing_stay_unknown():
    sparse = parse_analysis(ANALYSIS_VARIANTS["sparse"])  # "unclear", "n/a", "not enough information"
    assert sparse.sentiment == "neutral"  # "mixed"
    assert sparse.dimensions.resolution is None
    assert sparse.dimensions.escalation_risk is None
    assert sparse.dimensions.satisfaction_score is None
    assert sparse.dimensions.key_topics == ["shipping", "returns"]
    assert sparse.dimensions.intent is None and sparse.action_items == []
    prose = parse_analysis(ANALYSIS_VARIANTS["prose"])
    assert prose.sentiment is None and prose.dimensions.model_dump() == type(prose.dimensions)().model_dump()


def test_action_items_get_no_invented_speaker_or_time():
    items = parse_analysis("Action Items:\n- Send the refund\n- Call back Friday").action_items
    assert [(a.speaker, a.start_s) for a in items] == [(None, None), (None, None)]


def test_a_sentence_with_one_comma_stays_one_action_item():
    items = parse_analysis("Action Items: Call the customer back tomorrow, after checking with billing").action_items
    assert [a.text for a in items] == ["Call the customer back tomorrow, after checking with billing"]


# -- requests against the fake ---------------------------------------------------------------


def test_an_answer_from_the_service_becomes_transcript_and_insights(connect, fake, wav):
    provider = connect()
    raw = request(provider, AudioSource("call.wav", content=wav), REQUEST)
    assert json.loads(json.dumps(raw)) == raw  # staged as JSON between trigger and parse
    fetched = provider.parse(raw, REQUEST, 3.0)
    assert fetched.transcript.speakers == ["speaker_0", "speaker_1"]
    assert fetched.insights.dimensions.satisfaction_score == 8
    assert set(fetched.speaker_talk_s) == {"speaker_0", "speaker_1"}
    [seen] = fake.requests
    assert (seen.filename, seen.size, seen.language) == ("call.wav", len(wav), None)


def test_the_language_is_sent_when_set(connect, fake, wav):
    request(connect(), AudioSource("call.wav", content=wav), JobRequest("c1", Diarization.MODEL, 2, "k", language="hi-IN"))
    assert fake.requests[0].language == "hi-IN"


def test_over_100_mb_is_rejected_before_any_upload(connect, fake):
    outcome = request(connect(), AudioSource("huge.wav", content=bytes(100 * 1024 * 1024 + 1)))
    assert isinstance(outcome, Rejected) and "100 MB" in outcome.reason
    assert fake.requests == []


@pytest.mark.parametrize("filename", ["call.wma", "call.txt", "call"])
def test_a_format_the_service_does_not_take_is_rejected_before_any_upload(connect, fake, wav, filename):
    outcome = request(connect(), AudioSource(filename, content=wav))
    assert isinstance(outcome, Rejected) and "WAV, MP3, MP4, M4A, OGG, FLAC, WEBM, AAC, AMR" in outcome.reason
    assert fake.requests == []


def test_a_bad_token_is_fatal_and_never_shows_the_token(connect, fake, wav):
    secret = "cm_live_this_is_secret_0123456789"
    outcome = request(connect(key=secret), AudioSource("call.wav", content=wav))
    assert isinstance(outcome, Fatal)
    assert CONN_ID in outcome.reason and "401" in outcome.reason
    assert secret not in outcome.reason


def test_a_missing_connection_is_fatal_and_says_how_to_create_it(monkeypatch, wav):
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", raising=False)
    outcome = request(CallMissedProvider(), AudioSource("call.wav", content=wav))
    assert isinstance(outcome, Fatal) and "AIRFLOW_CONN_CALLMISSED_DEFAULT" in outcome.reason


def test_413_from_the_service_is_rejected(connect, fake, wav):
    fake.configure(max_upload_bytes=1000)
    outcome = request(connect(), AudioSource("call.wav", content=wav))
    assert isinstance(outcome, Rejected) and "413" in outcome.reason


def test_a_file_the_service_cannot_decode_is_rejected(connect, fake):
    outcome = request(connect(), AudioSource("call.mp3", content=b"this is not audio at all"))
    assert isinstance(outcome, Rejected) and "400" in outcome.reason


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_retry_later(connect, fake, wav, status):
    fake.configure(server_error_times=1, server_error_status=status)
    provider = connect()
    assert isinstance(request(provider, AudioSource("call.wav", content=wav)), RetryLater)
    assert isinstance(request(provider, AudioSource("call.wav", content=wav)), dict)  # the next one is served


def test_a_timeout_is_retry_later(connect, fake, wav):
    fake.configure(latency_s=1.0)
    outcome = request(connect(timeout_s=0.2), AudioSource("call.wav", content=wav))
    assert isinstance(outcome, RetryLater) and "timed out" in outcome.reason


def test_an_unreachable_service_is_retry_later(monkeypatch, wav):
    conn = {"conn_type": "http", "host": "http://127.0.0.1:9", "password": "token"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    assert isinstance(request(CallMissedProvider(), AudioSource("call.wav", content=wav)), RetryLater)


def test_slow_answers_overlap_when_sent_together(connect, fake, wav):
    fake.configure(latency_s=0.3)
    provider = connect()

    async def many():
        async with provider.async_client() as client:
            return await asyncio.gather(*(provider.arequest(client, REQUEST, AudioSource(f"c{i}.wav", content=wav))
                                          for i in range(4)))

    assert all(isinstance(raw, dict) for raw in asyncio.run(many()))
    assert fake.max_in_flight == 4


def test_a_question_about_the_transcript_gets_the_services_answer(connect, fake):
    hook = connect().hook

    async def ask():
        async with hook.async_client() as client:
            return await hook.aquestion(client, DOC_TRANSCRIPT, "Did they ask about the order?")

    assert "order" in asyncio.run(ask())
    assert fake.requests[-1].json == {"transcript": DOC_TRANSCRIPT, "question": "Did they ask about the order?"}
