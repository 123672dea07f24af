"""PyAI Omni calls as a source: the client against the faithful fake, and normalization."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest

from callmine.errors import AuthenticationError, PermissionDeniedError, ProviderUnavailableError
from callmine.hooks.pyai import PyAIHook
from callmine.recordings import make_call_id
from callmine.retry import Backoff
from callmine.sources.omni import (
    OmniCall,
    OmniClient,
    OmniTranscript,
    omni_recording,
    omni_roles,
    omni_transcript_to_fetched,
    parse_transcript,
)
from tests.fake_pyai_omni import FakeOmniServer

DAY = date(2026, 5, 1)
MIDDAY = datetime(2026, 5, 1, 12, tzinfo=UTC)
FAST = Backoff(base_s=0.01, cap_s=0.05)
TIMED = {"turns": [
    {"role": "assistant", "text": "Thanks for calling Acme.", "start_ms": 0, "end_ms": 1500},
    {"role": "user", "text": "My parcel is late.", "start_ms": 1800, "end_ms": 3250},
]}
UNTIMED = {"turns": [
    {"role": "assistant", "text": "Thanks for calling Acme.", "start_ms": 0, "end_ms": 1500},
    {"role": "user", "text": "My parcel is late."},  # one turn without times: the whole call is untimed
]}


@pytest.fixture
def fake():
    with FakeOmniServer() as server:
        yield server


@pytest.fixture
def client(fake, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PYAI_DEFAULT", fake.connection_json())
    omni = OmniClient(hook=PyAIHook(backoff=FAST, max_attempts=4), page_size=2)
    yield omni
    omni.close()


def segments(fetched):
    seg = fetched.transcript.segments
    return list(zip(seg.speaker, seg.start, seg.end, seg.text))


# -- listing --------------------------------------------------------------------------------
def test_listing_follows_cursors_across_pages_and_keeps_only_the_days_calls(fake, client):
    fake.add_call("next_day", datetime(2026, 5, 2, 0, 0, 1, tzinfo=UTC))
    fake.add_call("late", datetime(2026, 5, 1, 23, 59, 59, tzinfo=UTC))
    for hour in (9, 10, 11):
        fake.add_call(f"call_{hour}", MIDDAY.replace(hour=hour), created_at_as="epoch")
    fake.add_call("first_second", datetime(2026, 5, 1, 0, 0, 0, tzinfo=UTC))
    fake.add_call("day_before", datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC))

    calls = client.list_calls(DAY)

    assert [c.call_id for c in calls] == ["late", "call_11", "call_10", "call_9", "first_second"]
    assert all(c.created_at.tzinfo is not None for c in calls)
    assert len(fake.requests("api")) == 4  # 7 calls, 2 a page: every page up to the day before


def test_listing_stops_paging_once_it_reaches_calls_older_than_the_day(fake, client):
    fake.add_call("today", MIDDAY)
    for days in range(1, 30):
        fake.add_call(f"old_{days}", MIDDAY - timedelta(days=days))

    assert [c.call_id for c in client.list_calls(DAY)] == ["today"]
    assert len(fake.requests("api")) == 1  # the first page already reached yesterday


def test_a_day_without_calls_is_an_empty_list(client):
    assert client.list_calls(DAY) == []


# -- transcripts: shapes --------------------------------------------------------------------
def test_timed_turns_become_segments_in_seconds_with_assistant_as_speaker_0_and_user_as_speaker_1(fake, client):
    fake.add_call("c1", MIDDAY, TIMED)

    fetched = omni_transcript_to_fetched(client.fetch_transcript("c1"))

    assert segments(fetched) == [
        ("speaker_0", 0.0, 1.5, "Thanks for calling Acme."),
        ("speaker_1", 1.8, 3.25, "My parcel is late."),
    ]
    assert fetched.transcript.original_speakers == {"speaker_0": "assistant", "speaker_1": "user"}
    words = fetched.transcript.words  # Omni gives no word timings: the tokens, with none invented
    assert words.word[:4] == ["Thanks", "for", "calling", "Acme."] and set(words.start) == {None}


def test_when_any_turn_lacks_times_no_segment_gets_times(fake, client):
    fake.add_call("c1", MIDDAY, UNTIMED)

    fetched = omni_transcript_to_fetched(client.fetch_transcript("c1"))

    assert fetched.transcript.segments.start == [None, None]
    assert fetched.transcript.segments.end == [None, None]
    assert fetched.transcript.segments.speaker == ["speaker_0", "speaker_1"]


def test_a_legacy_string_becomes_one_untimed_segment_per_non_empty_line(fake, client):
    fake.add_call("c1", MIDDAY, "Assistant: Acme, good morning.\n\nuser: Hi, my parcel?\nhold music\nUser:   \n")

    fetched = omni_transcript_to_fetched(client.fetch_transcript("c1"))

    assert segments(fetched) == [
        ("speaker_0", None, None, "Acme, good morning."),
        ("speaker_1", None, None, "Hi, my parcel?"),
        ("speaker_0", None, None, "hold music"),  # no role prefix: the agent side
    ]
    assert fetched.transcript.original_speakers == {"speaker_0": "assistant", "speaker_1": "user"}


def test_non_speech_turns_are_left_out():
    t = parse_transcript("c1", {"turns": [
        {"role": "system", "text": "You are Acme's agent."},
        {"role": "assistant", "text": "Hello!", "start_ms": 0, "end_ms": 500},
        {"role": "user", "text": "  ", "start_ms": 600, "end_ms": 700},
    ]})
    assert [(turn.role, turn.text) for turn in t.turns] == [("assistant", "Hello!")]


def test_roles_are_known_from_the_source_assistant_is_agent_and_user_is_customer():
    fetched = omni_transcript_to_fetched(parse_transcript("c1", TIMED))
    assert omni_roles(fetched) == {"speaker_0": "agent", "speaker_1": "customer"}


# -- transcripts: availability and transport ------------------------------------------------
def test_a_transcript_not_pushed_yet_is_none_and_is_returned_once_available(fake, client):
    fake.add_call("c1", MIDDAY, TIMED, not_pushed_for=2)

    assert client.fetch_transcript("c1") is None
    assert client.fetch_transcript("c1") is None
    assert client.fetch_transcript("c1").turns[0].text == "Thanks for calling Acme."


def test_a_held_transcript_is_none_until_the_engine_pushes_it(fake, client):
    fake.add_call("c1", MIDDAY, TIMED, held=True)
    assert client.fetch_transcript("c1") is None
    fake.push("c1")
    assert isinstance(client.fetch_transcript("c1"), OmniTranscript)


def test_a_call_without_any_transcript_is_none_never_an_empty_transcript(fake, client):
    fake.add_call("failed_call", MIDDAY, None)
    assert client.fetch_transcript("failed_call") is None


@pytest.mark.parametrize("envelope", [False, True], ids=["document", "envelope"])
def test_an_offloaded_transcript_is_fetched_from_the_other_host_without_the_key(fake, client, envelope):
    fake.configure(offload_envelope=envelope)
    fake.add_call("c1", MIDDAY, TIMED, offloaded=True)

    transcript = client.fetch_transcript("c1")

    assert [turn.text for turn in transcript.turns] == ["Thanks for calling Acme.", "My parcel is late."]
    [store_request] = fake.requests("store")
    assert not store_request.carried_key
    assert fake.store_base_url.split(":")[1] != fake.base_url.split(":")[1]  # another host name


def test_server_errors_are_retried_with_the_hooks_backoff(fake, client):
    fake.add_call("c1", MIDDAY, TIMED)
    fake.fail_next(2, status=503)

    assert client.fetch_transcript("c1") is not None
    assert len(fake.requests("api")) == 3


def test_a_lasting_outage_ends_in_a_retryable_error(fake, client):
    fake.add_call("c1", MIDDAY, TIMED)
    fake.fail_next(10, status=500)

    with pytest.raises(ProviderUnavailableError):
        client.fetch_transcript("c1")
    assert len(fake.requests("api")) == 4  # max_attempts, then give up


def test_a_refused_key_names_the_connection_and_never_the_key(fake, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_PYAI_DEFAULT", fake.connection_json().replace(fake.api_key, "pyai_test_wrong_key"))
    caplog.set_level(logging.DEBUG)
    omni = OmniClient(hook=PyAIHook(backoff=FAST))

    with pytest.raises(AuthenticationError) as refused:
        omni.list_calls(DAY)

    assert "pyai_default" in str(refused.value)
    assert "pyai_test_wrong_key" not in str(refused.value) and "pyai_test_wrong_key" not in caplog.text
    assert len(fake.requests("api")) == 1  # a bad key is final: not retried


def test_a_key_without_the_omni_read_scope_names_the_connection_and_the_scope(fake, client):
    fake.configure(scopes=())
    with pytest.raises(PermissionDeniedError, match=r"'pyai_default'.*omni:read"):
        client.list_calls(DAY)


# -- identity for the calls table -----------------------------------------------------------
def test_an_omni_call_gets_a_stable_recording_identity_with_duration_from_timed_turns():
    call = OmniCall("c_42", MIDDAY)
    rec = omni_recording(call, DAY, parse_transcript("c_42", TIMED))

    assert rec.source_uri == "pyai-omni://calls/c_42"
    assert rec.call_id == make_call_id("pyai-omni://calls/c_42") == omni_recording(call, DAY).call_id
    assert (rec.format, rec.channels, rec.call_date, rec.duration_s) == ("omni", None, "2026-05-01", 3.25)


def test_an_untimed_omni_call_has_no_duration():
    assert omni_recording(OmniCall("c_42", MIDDAY), DAY, parse_transcript("c_42", UNTIMED)).duration_s is None
