"""A batch's outcomes become warehouse rows that satisfy the contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from callmine.batch_rows import BatchRows
from callmine.providers.pyai_result import normalize_pyai_result
from callmine.recordings import Recording, RunSettings
from callmine.trackers import load_trackers
from callmine.transcript import Diarization
from callmine.warehouse import conform

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = RunSettings(call_date="2026-11-20", run_id="manual__t", source_uri="/in", warehouse_uri="/wh")
DOC = {
    "audio_seconds": 9.5,
    "segments": [
        {"start": 0.0, "end": 3.0, "text": "Thanks for calling, how can I help?", "channel": 0},
        {"start": 3.5, "end": 8.0, "text": "I want a refund, the pricing is too high.", "channel": 1},
    ],
    "words": [
        {"start": 0.0 + i * 0.4, "end": 0.3 + i * 0.4, "word": w, "channel": 0}
        for i, w in enumerate("Thanks for calling, how can I help?".split())
    ] + [
        {"start": 3.5 + i * 0.5, "end": 3.9 + i * 0.5, "word": w, "channel": 1}
        for i, w in enumerate("I want a refund, the pricing is too high.".split())
    ],
}


def recording(call_id="call_a", channels=2):
    return Recording(call_id=call_id, source_uri=f"file:///in/{call_id}.wav", call_date="2026-11-20",
                     format="wav", size_bytes=100, duration_s=9.5, channels=channels)


@pytest.fixture
def rows():
    return BatchRows(SETTINGS, load_trackers(ROOT / "include/trackers/default.yaml"))


def completed(rows, call_id="call_a"):
    transcript = normalize_pyai_result(DOC, Diarization.CHANNEL)
    rows.add_completed(recording(call_id), "job_1", transcript, 9.5, {"srt": "file:///wh/s.srt"})


def test_every_table_conforms_to_the_warehouse_schema(rows):
    completed(rows)
    rows.add_failed(recording("call_b"), "unreadable audio: boom")
    for name, table in rows.tables().items():
        conform(name, table)


def test_completed_call_has_indexed_segments_and_words(rows):
    completed(rows)
    tables = rows.tables()
    assert tables["segments"].column("segment_idx").to_pylist() == [0, 1]
    assert tables["words"].column("word_idx").to_pylist() == list(range(len(DOC["words"])))
    [call] = tables["calls"].to_pylist()
    assert (call["status"], call["diarization"], call["speakers"], call["srt_uri"]) == (
        "completed", "channel", 2, "file:///wh/s.srt")


def test_talk_ratios_of_a_call_sum_to_one_and_roles_follow_channels(rows):
    completed(rows)
    metrics = rows.tables()["speaker_metrics"].to_pylist()
    assert sum(m["talk_ratio"] for m in metrics) == pytest.approx(1.0)
    assert {m["speaker"]: m["role"] for m in metrics} == {"ch0": "agent", "ch1": "customer"}


def test_tracked_terms_become_keyword_hits_with_speaker_and_time(rows):
    completed(rows)
    hits = {(h["tracker"], h["speaker"], h["start_s"]) for h in rows.tables()["keyword_hits"].to_pylist()}
    assert ("refund", "ch1", 5.0) in hits and ("pricing", "ch1", 6.0) in hits


def test_transcript_without_speech_is_loaded_as_a_failed_call(rows):
    empty = normalize_pyai_result({"segments": [], "words": []}, Diarization.CHANNEL)
    rows.add_completed(recording(), "job_1", empty, 0.0, {})
    [call] = rows.tables()["calls"].to_pylist()
    assert (call["status"], call["error"]) == ("failed", "no speech recognized in the recording")
    assert "segments" not in rows.tables()


def test_failed_call_keeps_its_job_id_and_reason(rows):
    rows.add_failed(recording(), "transcription failed: unsupported codec", "job_9")
    [call] = rows.tables()["calls"].to_pylist()
    assert (call["status"], call["provider_job_id"], call["error"]) == (
        "failed", "job_9", "transcription failed: unsupported codec")
