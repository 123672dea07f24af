"""PyAI Hear result document -> canonical ``Transcript``.

The document: ``text``, ``speakers``, ``audio_seconds``, ``segments[]`` of
``{start, end, text, speaker?, channel?}`` and ``words[]`` of ``{start, end, word|text,
speaker?, channel?, confidence?}`` (seconds), ``formats`` {srt|vtt: signed URL}.
Optional fields may be missing; the word token may be under ``word`` or ``text``.

Times are checked against the recording's probed duration when the caller knows it
(``duration_s``, passed on to ``build_transcript``: checked and clipped). Without it, the
document's own ``audio_seconds`` bounds them: a word starting more than 1 s after the end
of the audio the service itself measured is a ``TranscriptError`` (checked, not clipped:
the service may round its measure). Overlapping segments are legal: two channels talk at
once, and one speaker's segments may overlap too; they are kept in start order.

Documents are decoded straight into typed msgspec structs: a day is millions of words,
and this is about three times faster than ``json.loads`` into dicts (BENCHMARKS.md).
"""

from __future__ import annotations

import math
from typing import Any

import msgspec


from callmine.transcript import (
    Diarization, Segments, Transcript, TranscriptError, build_transcript, channel_speaker, model_speaker,
)

Label = int | str | None


class PyAIWord(msgspec.Struct, gc=False):
    start: float
    end: float
    word: str | None = None
    text: str | None = None
    channel: int | None = None
    speaker: Label = None
    confidence: float | None = None


class PyAISegment(msgspec.Struct, gc=False):
    start: float
    end: float
    text: str | None = None
    channel: int | None = None
    speaker: Label = None


class PyAIResult(msgspec.Struct):
    text: str | None = None
    speakers: int | None = None
    audio_seconds: float | None = None
    segments: list[PyAISegment] | None = None
    words: list[PyAIWord] | None = None
    formats: dict[str, str | None] | None = None


class PyAIJob(msgspec.Struct):
    job_id: str
    status: str = "queued"
    result: PyAIResult | None = None
    result_url: str | None = None
    error: Any = None


_RESULT = msgspec.json.Decoder(PyAIResult)
_JOB = msgspec.json.Decoder(PyAIJob)


def decode_job(payload: bytes) -> PyAIJob:
    return _JOB.decode(payload)


def decode_result(payload: bytes | dict[str, Any] | PyAIResult) -> PyAIResult:
    """Raises ``msgspec.ValidationError`` (naming the field) on a malformed document."""
    if isinstance(payload, PyAIResult):
        return payload
    if isinstance(payload, dict):
        return msgspec.convert(payload, PyAIResult)
    return _RESULT.decode(payload)


def _speaker_keys(channels: list[int | None], labels: list[Label]) -> list[str | None]:
    """Canonical key per item: channel first, else diarization label, else None.

    Mapped through a dict of the few distinct values instead of a call per word; when
    one of the two columns is all None (stereo: channels only; mono: labels only), the
    dict is keyed by the other column alone.
    """
    n = len(channels)
    if labels.count(None) == n:
        by_channel = {c: None if c is None else channel_speaker(c) for c in set(channels)}
        return list(map(by_channel.__getitem__, channels))
    if channels.count(None) == n:
        by_label = {lb: None if lb is None else model_speaker(lb) for lb in set(labels)}
        return list(map(by_label.__getitem__, labels))
    keys: dict[tuple[int | None, Label], str | None] = {}
    for pair in set(zip(channels, labels)):
        channel, label = pair
        if channel is not None:
            keys[pair] = channel_speaker(channel)
        else:
            keys[pair] = None if label is None else model_speaker(label)
    return [keys[pair] for pair in zip(channels, labels)]


# Same tolerance as ``build_transcript``'s check against the probed duration.
_END_TOLERANCE_S = 1.0


def _check_within_audio(kind: str, starts: list[float], audio_seconds: float | None) -> None:
    """Nothing may start after the end of the audio the service measured (plus tolerance)."""
    if audio_seconds is None or not math.isfinite(audio_seconds) or audio_seconds <= 0:
        return
    limit = audio_seconds + _END_TOLERANCE_S
    if not any(map(limit.__lt__, starts)):  # ``start > limit`` for none of them, at C speed
        return  # (a non-number makes ``__lt__`` answer NotImplemented, which is true: the loop decides)
    for i, start in enumerate(starts):
        if start > limit:
            raise TranscriptError(f"{kind} {i} starts at {start:.1f}s, after the end of the audio "
                                  f"({audio_seconds:.1f}s as the service measured it)")


def normalize_pyai_result(result: bytes | dict[str, Any] | PyAIResult, diarization: Diarization,
                          duration_s: float | None = None) -> Transcript:
    """``duration_s``: the recording's probed duration, when known (see the module docstring)."""
    doc = decode_result(result)
    raw_segments = doc.segments or []
    raw_words = doc.words or []
    seg_start = [s.start for s in raw_segments]
    word_start = [w.start for w in raw_words]
    if duration_s is None:
        _check_within_audio("segment", seg_start, doc.audio_seconds)
        _check_within_audio("word", word_start, doc.audio_seconds)
    seg_channels = [s.channel for s in raw_segments]
    seg_labels = [s.speaker for s in raw_segments]
    seg_keys = _speaker_keys(seg_channels, seg_labels)
    originals: dict[str, str] = {}
    for key, channel, label in zip(seg_keys, seg_channels, seg_labels):
        original = channel if channel is not None else label
        if key is not None and original is not None:
            originals.setdefault(key, str(original))
    formats = doc.formats or {}
    return build_transcript(
        diarization=diarization,
        segments=Segments(
            start=seg_start,
            end=[s.end for s in raw_segments],
            text=[(s.text or "").strip() for s in raw_segments],
            speaker=[k or "speaker_0" for k in seg_keys],
            channel=seg_channels,
        ),
        word_start=word_start,
        word_end=[w.end for w in raw_words],
        word_text=[w.word or w.text or "" for w in raw_words],
        word_speaker=_speaker_keys([w.channel for w in raw_words], [w.speaker for w in raw_words]),
        word_confidence=[w.confidence for w in raw_words],
        speaker_labels=originals,
        text=doc.text,
        audio_seconds=doc.audio_seconds,
        duration_s=duration_s,
        subtitle_urls={fmt: url for fmt, url in formats.items() if fmt in ("srt", "vtt") and url},
    )
