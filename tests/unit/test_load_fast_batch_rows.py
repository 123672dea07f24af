"""Rows built from a transcript's cached numpy columns equal rows built from its lists.

``BatchRows.add_completed`` takes times, segment indices, confidences and speakers from
``Segments.cached`` / ``Words.cached`` when ``build_transcript`` recorded them; a
transcript without them (built by hand) goes through the lists, with the same tables.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

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
