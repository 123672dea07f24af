"""Rows built from a transcript's cached numpy columns equal rows built from its lists.

``BatchRows.add_completed`` takes times, segment indices, confidences and speakers from
``Segments.cached`` / ``Words.cached`` when ``build_transcript`` recorded them; a
transcript without them (built by hand) goes through the lists, with the same tables.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from callmine.batch_rows import BatchRows
from callmine.providers.pyai_result import normalize_pyai_result
from callmine.recordings import RunSettings
from callmine.trackers import load_trackers
from callmine.transcript import Segments, Transcript, Words

ROOT = Path(__file__).resolve().parents[2]
INGESTED = datetime(2024, 3, 6, tzinfo=timezone.utc)
SETTINGS = RunSettings(call_date="2024-03-05", run_id="manual__t", source_uri="/in", warehouse_uri="/wh")


def _without_caches(t: Transcript) -> Transcript:
    s, w = t.segments, t.words
    return Transcript(
        text=t.text, diarization=t.diarization,
        segments=Segments(list(s.start), list(s.end), list(s.text), list(s.speaker), list(s.channel)),
        words=Words(list(w.start), list(w.end), list(w.word), list(w.speaker), list(w.confidence),
                    list(w.segment_idx)),
        audio_seconds=t.audio_seconds, original_speakers=dict(t.original_speakers),
        subtitle_urls=dict(t.subtitle_urls),
    )


@pytest.fixture(scope="module")
def day():
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_load

    return bench_load.make_day(6, 300, seed=3)


def _tables(day, transform, duration: bool):
    rows = BatchRows(SETTINGS, load_trackers(ROOT / "include/trackers/default.yaml"), ingested_at=INGESTED)
    for rec in day.recordings:
        t = normalize_pyai_result(day.docs[rec.call_id], rec.diarization)
        if duration:  # a probed duration a little short of the last word: ends get clipped
            last_end = max(t.words.end)
            t = normalize_pyai_result(day.docs[rec.call_id], rec.diarization, duration_s=last_end - 0.5)
            assert last_end - 0.5 in t.words.end
        rows.add_completed(rec, "job", transform(t), 1.0, {})
    return rows.tables()


@pytest.mark.parametrize("duration", [False, True])
def test_tables_from_cached_columns_equal_tables_from_lists(day, duration: bool) -> None:
    fast = _tables(day, lambda t: t, duration)
    plain = _tables(day, _without_caches, duration)
    assert fast.keys() == plain.keys()
    for name in fast:
        assert fast[name].schema == plain[name].schema, name
        assert fast[name].equals(plain[name]), name


def test_normalized_transcripts_carry_the_cached_columns(day) -> None:
    rec = day.recordings[0]
    t = normalize_pyai_result(day.docs[rec.call_id], rec.diarization)
    for name in ("start", "end", "confidence", "segment_idx", "speaker_code"):
        assert t.words.cached(name) is not None, name
    assert t.segments.cached("start") is not None


def _rows() -> BatchRows:
    return BatchRows(SETTINGS, load_trackers(ROOT / "include/trackers/default.yaml"), ingested_at=INGESTED)


def test_a_call_with_a_bad_channel_leaves_no_segment_rows(day) -> None:
    good, bad = day.recordings[0], day.recordings[1]
    expected = _rows()
    expected.add_completed(good, "job", normalize_pyai_result(day.docs[good.call_id], good.diarization), 1.0, {})
    rows = _rows()
    rows.add_completed(good, "job", normalize_pyai_result(day.docs[good.call_id], good.diarization), 1.0, {})
    t = normalize_pyai_result(day.docs[bad.call_id], bad.diarization)
    t.segments.channel[-1] = "not a channel"
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        rows.add_completed(bad, "job", t, 1.0, {})
    assert rows.tables()["segments"].equals(expected.tables()["segments"])


def test_a_bad_segment_value_names_its_call(day) -> None:
    rows = _rows()
    bad = day.recordings[2]
    for rec in day.recordings[:4]:
        t = normalize_pyai_result(day.docs[rec.call_id], rec.diarization)
        if rec is bad:  # a label that is not text: only the batch's conversion sees it
            t = Transcript(text=t.text, diarization=t.diarization, segments=t.segments, words=t.words,
                           audio_seconds=t.audio_seconds, subtitle_urls=t.subtitle_urls,
                           original_speakers={key: 7 for key in t.speakers})
        rows.add_completed(rec, "job", t, 1.0, {})
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError), match=f"call {bad.call_id}, column speaker_label"):
        rows.tables()
