"""build_transcript: the one place a provider's answer becomes a valid, ordered transcript."""

from __future__ import annotations

import pytest

from callmine.transcript import Diarization, Segments, TranscriptError, build_transcript


def segments(*rows, timed=True):
    return Segments(
        start=[r[1] if timed else None for r in rows], end=[r[2] if timed else None for r in rows],
        text=[r[3] for r in rows], speaker=[r[0] for r in rows], channel=[None] * len(rows),
    )


def build(segs, words=(), **kw):
    words = list(words)
    return build_transcript(
        diarization=Diarization.MODEL, segments=segs,
        word_start=[w[1] for w in words], word_end=[w[2] for w in words], word_text=[w[3] for w in words],
        word_speaker=[w[0] for w in words], word_confidence=[None] * len(words), **kw,
    )


def test_segments_come_out_in_time_order_whatever_the_provider_sent():
    t = build(segments(("speaker_1", 5.0, 6.0, "later"), ("speaker_0", 0.0, 1.0, "first")))
    assert t.segments.text == ["first", "later"] and t.speakers == ["speaker_0", "speaker_1"]


def test_words_are_linked_to_their_segment_in_time_order():
    t = build(segments(("speaker_0", 0.0, 2.0, "hello there")),
              [("speaker_0", 0.6, 1.0, "there"), ("speaker_0", 0.0, 0.5, "hello")])
    assert t.words.word == ["hello", "there"] and t.words.segment_idx == [0, 0]


def test_a_speaker_key_that_is_not_canonical_is_refused():
    with pytest.raises(TranscriptError, match="'A'"):
        build(segments(("A", 0.0, 1.0, "hi")))


def test_a_segment_that_ends_before_it_starts_is_refused():
    with pytest.raises(TranscriptError, match="impossible times"):
        build(segments(("speaker_0", 3.0, 1.0, "hi")))


def test_words_past_the_end_of_the_recording_are_refused():
    with pytest.raises(TranscriptError, match="after the recording's end"):
        build(segments(("speaker_0", 0.0, 1.0, "hi")), [("speaker_0", 30.0, 30.5, "hi")], duration_s=10.0)


def test_times_within_a_second_past_the_end_are_clipped_to_the_recording():
    t = build(segments(("speaker_0", 0.0, 10.4, "hi")), [("speaker_0", 9.9, 10.4, "hi")], duration_s=10.0)
    assert t.segments.end == [10.0] and t.words.end == [10.0]


def test_untimed_segments_get_their_tokens_as_words_and_no_invented_times():
    t = build(segments(("speaker_0", 0, 0, "thanks for calling"), timed=False))
    assert t.words.word == ["thanks", "for", "calling"] and set(t.words.start) == {None}
    assert t.segments.start == [None]


def test_timed_segments_without_word_timings_get_untimed_words():
    t = build(segments(("speaker_0", 0.0, 2.0, "hello there")))
    assert t.words.word == ["hello", "there"] and t.words.start == [None, None]


def test_some_timed_and_some_untimed_segments_are_refused():
    segs = segments(("speaker_0", 0.0, 1.0, "a"), ("speaker_1", 1.0, 2.0, "b"))
    segs.start[1] = None
    with pytest.raises(TranscriptError, match="some segments have times"):
        build(segs)


def test_the_providers_own_labels_are_kept():
    t = build(segments(("speaker_0", 0.0, 1.0, "hi")), speaker_labels={"speaker_0": "A"})
    assert t.original_speakers == {"speaker_0": "A"}
