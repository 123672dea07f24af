"""PyAI result documents normalize into the canonical transcript."""

from __future__ import annotations

from callmine.providers.pyai import job_error_text
from callmine.providers.pyai_result import normalize_pyai_result
from callmine.transcript import Diarization

STEREO = {
    "text": "hello there hi",
    "speakers": 2,
    "audio_seconds": 4.5,
    "segments": [
        {"start": 0.0, "end": 1.0, "text": "hello there", "channel": 0},
        {"start": 0.8, "end": 2.0, "text": "hi", "channel": 1},
    ],
    "words": [
        {"start": 0.0, "end": 0.4, "word": "hello", "channel": 0, "confidence": 0.9},
        {"start": 0.85, "end": 1.1, "word": "hi", "channel": 1, "confidence": 0.8},
        {"start": 0.5, "end": 0.9, "word": "there", "channel": 0, "confidence": 0.95},
    ],
    "formats": {"srt": "https://r.example/x.srt", "vtt": "https://r.example/x.vtt", "json": "ignored"},
}


def test_channel_segments_get_ch_speaker_keys():
    t = normalize_pyai_result(STEREO, Diarization.CHANNEL)
    assert t.segments.speaker == ["ch0", "ch1"]
    assert t.segments.channel == [0, 1]


def test_words_are_sorted_by_time_and_linked_to_their_speakers_segment():
    t = normalize_pyai_result(STEREO, Diarization.CHANNEL)
    assert t.words.word == ["hello", "there", "hi"]
    # "there" (0.5-0.9) overlaps the ch1 segment's start but belongs to ch0's segment.
    assert t.words.segment_idx == [0, 0, 1]
    assert t.words.speaker == ["ch0", "ch0", "ch1"]


def test_diarized_speaker_labels_become_speaker_keys_and_keep_the_original():
    doc = {
        "segments": [{"start": 0, "end": 1, "text": "a", "speaker": "speaker_1"}, {"start": 1, "end": 2, "text": "b", "speaker": 0}],
        "words": [{"start": 0.1, "end": 0.2, "word": "a"}, {"start": 1.1, "end": 1.2, "word": "b"}],
    }
    t = normalize_pyai_result(doc, Diarization.MODEL)
    assert t.segments.speaker == ["speaker_1", "speaker_0"]
    assert t.original_speakers == {"speaker_1": "speaker_1", "speaker_0": "0"}


def test_words_without_speaker_inherit_the_segment_speaker():
    doc = {
        "segments": [{"start": 0, "end": 1, "text": "a", "speaker": "speaker_0"}, {"start": 1, "end": 2, "text": "b", "speaker": "speaker_1"}],
        "words": [{"start": 1.2, "end": 1.4, "text": "b"}, {"start": 0.1, "end": 0.2, "text": "a"}],
    }
    t = normalize_pyai_result(doc, Diarization.MODEL)
    assert t.words.word == ["a", "b"]
    assert t.words.speaker == ["speaker_0", "speaker_1"]
    assert t.words.segment_idx == [0, 1]


def test_missing_optional_fields_are_tolerated():
    doc = {"segments": [{"start": 0, "end": 2, "text": "hello"}], "words": [{"start": 0, "end": 1, "word": "hello"}]}
    t = normalize_pyai_result(doc, Diarization.NONE)
    assert t.audio_seconds is None
    assert t.words.confidence == [None]
    assert t.subtitle_urls == {}
    assert t.text == "hello"
    assert t.segments.speaker == ["speaker_0"]


def test_only_subtitle_formats_are_kept_as_subtitle_urls():
    t = normalize_pyai_result(STEREO, Diarization.CHANNEL)
    assert t.subtitle_urls == {"srt": "https://r.example/x.srt", "vtt": "https://r.example/x.vtt"}


def test_segments_arrive_in_time_order_even_when_the_provider_does_not_sort():
    doc = {"segments": [{"start": 3, "end": 4, "text": "late", "channel": 1}, {"start": 0, "end": 1, "text": "early", "channel": 0}], "words": []}
    t = normalize_pyai_result(doc, Diarization.CHANNEL)
    assert t.segments.text == ["early", "late"]


def test_job_error_may_be_a_string_or_an_object():
    assert job_error_text("audio too short") == "audio too short"
    assert job_error_text({"code": "unsupported_codec", "message": "cannot decode"}) == "unsupported_codec: cannot decode"
    assert job_error_text(None) is None


def test_raw_json_bytes_normalize_like_decoded_documents():
    import json

    from_bytes = normalize_pyai_result(json.dumps(STEREO).encode(), Diarization.CHANNEL)
    from_dict = normalize_pyai_result(STEREO, Diarization.CHANNEL)
    assert (from_bytes.words, from_bytes.segments) == (from_dict.words, from_dict.segments)


def test_malformed_document_names_the_bad_field():
    import msgspec
    import pytest

    with pytest.raises(msgspec.ValidationError, match="start"):
        normalize_pyai_result(b'{"segments": [{"end": 1.0, "text": "no start"}]}', Diarization.MODEL)
