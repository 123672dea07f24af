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
Because msgspec guarantees the types, the words go to ``build_transcript`` in its fast
forms: float64 copies of times and confidences (``WordArrays``), speakers as codes
(``SpeakerCodes``), and this call's own lists to put in time order in place.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from callmine.transcript import (
    Diarization, Segments, SpeakerCodes, Transcript, TranscriptError, build_transcript, channel_speaker,
    model_speaker, WordArrays, object_array,
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


def _speaker_codes(channels: list[int | None], labels: list[Label]) -> SpeakerCodes:
    """``_speaker_keys`` as ``SpeakerCodes``: the same keys, without a string per item."""
    n = len(channels)
    # ``count(None)`` is fast on a column of None (identity) and slow on strings: look first.
    if not n or (labels[0] is None and labels.count(None) == n):  # stereo: channels only
        coded = _small_int_codes(channels)
        if coded is not None:
            present, codes = coded
            return SpeakerCodes(codes, tuple(channel_speaker(c) for c in present))
        return _codes_of(channels, channel_speaker)
    if channels[0] is None and channels.count(None) == n:  # mono: diarization labels only
        return _codes_of(labels, model_speaker)
    return SpeakerCodes.of(_speaker_keys(channels, labels))


def _codes_of(values: list, key_of: Callable[[Any], str]) -> SpeakerCodes:
    """Codes of ``values`` (a few distinct ones: speakers), keyed by ``key_of`` (None stays None).

    Equal values (``1``, ``1.0``) share a code, as they share a dict entry.
    """
    distinct = list(dict.fromkeys(values))
    code_of_key: dict[str | None, int] = {}
    codes = [code_of_key.setdefault(None if v is None else key_of(v), len(code_of_key)) for v in distinct]
    keys = tuple(code_of_key)
    if len(distinct) > 4:
        code_of_value = dict(zip(distinct, codes))
        return SpeakerCodes(np.fromiter(map(code_of_value.__getitem__, values), np.int64, len(values)), keys)
    # Two or three speakers: a numpy comparison per value is cheaper than a dict lookup per item.
    items = object_array(values)
    out = np.full(len(values), codes[0] if codes else 0, dtype=np.int64)
    for value, code in zip(distinct[1:], codes[1:]):
        out[items == value] = code
    return SpeakerCodes(out, keys)


def _small_int_codes(values: list[int | None]) -> tuple[list[int], np.ndarray] | None:
    """``(distinct values ascending, code per item)`` when every item is an int in 0..1023, else None."""
    try:  # struct packs Python ints only (no None, float or str) and reads them fast
        ints = np.frombuffer(struct.pack(f"{len(values)}q", *values), dtype=np.int64)
    except (struct.error, OverflowError):
        return None
    if not len(ints) or ints.min() < 0 or ints.max() > 1023:
        return None
    present = np.flatnonzero(np.bincount(ints))
    lookup = np.zeros(present[-1] + 1, dtype=np.int64)
    lookup[present] = np.arange(len(present))
    return present.tolist(), lookup[ints]


def _float64(values: list[float]) -> np.ndarray:
    """float64 copy of a list of Python floats (read-only); ``struct`` reads them faster than numpy."""
    return np.frombuffer(struct.pack(f"{len(values)}d", *values), dtype=np.float64)


def _float64_or_none(values: list[float | None]) -> np.ndarray | None:
    """``_float64``, or None when some item is None (struct refuses it)."""
    try:
        return _float64(values)
    except struct.error:
        return None


# Same tolerance as ``build_transcript``'s check against the probed duration.
_END_TOLERANCE_S = 1.0


def _check_within_audio(kind: str, starts: list[float], audio_seconds: float | None,
                        as_array: np.ndarray | None = None) -> None:
    """Nothing may start after the end of the audio the service measured (plus tolerance).

    ``as_array``: ``starts`` as float64, when the decoder guaranteed floats (same answers).
    """
    if audio_seconds is None or not math.isfinite(audio_seconds) or audio_seconds <= 0:
        return
    limit = audio_seconds + _END_TOLERANCE_S
    if as_array is not None:
        if not (as_array > limit).any():  # float comparisons, NaN never greater: as the loop
            return
    elif not any(map(limit.__lt__, starts)):  # ``start > limit`` for none of them, at C speed
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
    word_end = [w.end for w in raw_words]
    word_confidence = [w.confidence for w in raw_words]
    # msgspec validated bytes/dict input, so times are floats: one float64 copy serves every check.
    # (A PyAIResult built in code is unvalidated: its lists are checked item by item as before.)
    seg_end = [s.end for s in raw_segments]
    arrays = seg_times = None
    if not isinstance(result, PyAIResult):
        arrays = WordArrays(_float64(word_start), _float64(word_end), _float64_or_none(word_confidence))
        seg_times = (_float64(seg_start), _float64(seg_end))
    if duration_s is None:
        _check_within_audio("segment", seg_start, doc.audio_seconds, None if seg_times is None else seg_times[0])
        _check_within_audio("word", word_start, doc.audio_seconds, None if arrays is None else arrays.start)
    seg_channels = [s.channel for s in raw_segments]
    seg_labels = [s.speaker for s in raw_segments]
    seg_keys = _speaker_keys(seg_channels, seg_labels)
    originals: dict[str, str] = {}
    for key in dict.fromkeys(seg_keys):  # each key's first segment names it (a key implies a channel or label)
        if key is not None:
            first = seg_keys.index(key)
            channel = seg_channels[first]
            originals[key] = str(channel if channel is not None else seg_labels[first])
    formats = doc.formats or {}
    return build_transcript(
        diarization=diarization,
        segments=Segments(
            start=seg_start,
            end=seg_end,
            text=[(s.text or "").strip() for s in raw_segments],
            speaker=[k or "speaker_0" for k in seg_keys],
            channel=seg_channels,
        ),
        word_start=word_start,
        word_end=word_end,
        word_text=[w.word or w.text or "" for w in raw_words],
        word_speaker=_speaker_codes([w.channel for w in raw_words], [w.speaker for w in raw_words]),
        word_confidence=word_confidence,
        speaker_labels=originals,
        text=doc.text,
        audio_seconds=doc.audio_seconds,
        duration_s=duration_s,
        subtitle_urls={fmt: url for fmt, url in formats.items() if fmt in ("srt", "vtt") and url},
        word_arrays=arrays,
        segment_times=seg_times,
        reorder_in_place=True,  # the word lists above are this call's own
    )
