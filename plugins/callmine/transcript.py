"""The canonical transcript model every provider normalizes into.

Segments and words are stored column-wise (one list per field) rather than as one
object per word: a day of calls is millions of words, and columns go straight into
Arrow without a per-row Python object.

Speaker keys follow the warehouse contract: ``ch0``, ``ch1``... when speakers come
from stereo channels, ``speaker_0``, ``speaker_1``... from model diarization.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Diarization(StrEnum):
    CHANNEL = "channel"  # stereo: one party per channel, exact separation
    MODEL = "model"  # mono: model-based speaker clustering
    NONE = "none"


def channel_speaker(channel: int) -> str:
    return f"ch{int(channel)}"


def model_speaker(label: int | str) -> str:
    """``0`` / ``"0"`` / ``"speaker_0"`` -> ``"speaker_0"``."""
    text = str(label)
    return text if text.startswith("speaker_") else f"speaker_{text}"


@dataclass(slots=True)
class Segments:
    """Diarized segments in time order; index in these lists is ``segment_idx``."""

    start: list[float] = field(default_factory=list)
    end: list[float] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    speaker: list[str] = field(default_factory=list)
    channel: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.start)


@dataclass(slots=True)
class Words:
    """Timed words in time order; index in these lists is ``word_idx``."""

    start: list[float] = field(default_factory=list)
    end: list[float] = field(default_factory=list)
    word: list[str] = field(default_factory=list)
    speaker: list[str] = field(default_factory=list)
    confidence: list[float | None] = field(default_factory=list)
    segment_idx: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.start)


@dataclass(slots=True)
class Transcript:
    """One recording's transcript, provider-neutral."""

    text: str
    diarization: Diarization
    segments: Segments
    words: Words
    audio_seconds: float | None = None
    # Provider's own speaker labels, by canonical key (e.g. {"speaker_0": "A"}).
    original_speakers: dict[str, str] = field(default_factory=dict)
    # Subtitle format -> URL to fetch it from ("srt", "vtt").
    subtitle_urls: dict[str, str] = field(default_factory=dict)

    @property
    def speakers(self) -> list[str]:
        """Distinct speaker keys, in order of first appearance."""
        return list(dict.fromkeys(self.segments.speaker))


class TranscriptError(ValueError):
    """A provider's answer cannot be a valid transcript (the call fails with this reason)."""


_CANONICAL = re.compile(r"(ch|speaker_)\d+")


def build_transcript(
    *,
    diarization: Diarization,
    segments: Segments,
    word_start: list[float],
    word_end: list[float],
    word_text: list[str],
    word_speaker: list[str | None],
    word_confidence: list[float | None],
    speaker_labels: dict[str, str] | None = None,
    text: str | None = None,
    audio_seconds: float | None = None,
    duration_s: float | None = None,
    subtitle_urls: dict[str, str] | None = None,
) -> Transcript:
    """The one place a transcript is made valid; every provider builds through it.

    Segments are put in time order and words linked to them (``callmine.normalize``);
    then the transcript is checked: canonical speaker keys (``chN`` / ``speaker_N``),
    finite non-negative times with ``end >= start`` (untimed segments, all-None times,
    are allowed for providers without timestamps), and nothing past the recording's end
    (``duration_s``, with a 1 s tolerance; times inside it are clipped to it). Nothing
    downstream re-sorts or re-conforms. ``speaker_labels`` maps canonical keys to the
    provider's own labels (e.g. ``{"speaker_0": "A"}``).
    """
    from callmine.normalize import link_words, sort_segments

    _check_segments(segments, duration_s)
    if len(segments) and segments.start[0] is None:
        return _untimed(diarization, segments, speaker_labels, text, audio_seconds, subtitle_urls)
    _check_times("word", word_start, word_end, duration_s, timed_required=True)
    word_keys = set(word_speaker)
    word_keys.discard(None)
    for key in set(segments.speaker) | word_keys:
        if not _CANONICAL.fullmatch(key):
            raise TranscriptError(f"speaker key {key!r} is not canonical (ch0.. or speaker_0..)")
    ordered = sort_segments(segments)
    # No word timings from the provider: the segments' tokens, their times None (never invented).
    words = (link_words(ordered, word_start, word_end, word_text, word_speaker, word_confidence)
             if word_start else _token_words(ordered))
    if duration_s:
        ordered.end[:] = [min(e, duration_s) for e in ordered.end]
        words.end[:] = [None if e is None else min(e, duration_s) for e in words.end]
    return Transcript(
        text=text if text is not None else " ".join(ordered.text),
        diarization=diarization,
        segments=ordered,
        words=words,
        audio_seconds=audio_seconds,
        original_speakers=dict(speaker_labels or {}),
        subtitle_urls=dict(subtitle_urls or {}),
    )


def _check_segments(segments: Segments, duration_s: float | None) -> None:
    n = len(segments)
    if not (len(segments.end) == len(segments.text) == len(segments.speaker) == len(segments.channel) == n):
        raise TranscriptError("segment columns differ in length")
    untimed = [s is None for s in segments.start]
    if any(untimed) and not all(untimed):
        raise TranscriptError("some segments have times and others not")
    if not all(untimed):
        _check_times("segment", segments.start, segments.end, duration_s, timed_required=True)


def _check_times(kind: str, start: list, end: list, duration_s: float | None, timed_required: bool) -> None:
    if len(start) != len(end):
        raise TranscriptError(f"{kind} start and end columns differ in length")
    limit = duration_s + 1.0 if duration_s else math.inf
    if _all_times_valid(start, end, limit):  # the usual case, decided column-wise
        return
    for i, (s, e) in enumerate(zip(start, end)):
        if s is None or e is None or not (math.isfinite(s) and math.isfinite(e)):
            raise TranscriptError(f"{kind} {i} has no valid time ({s!r}..{e!r})")
        if s < 0 or e < s:
            raise TranscriptError(f"{kind} {i} has impossible times {s}..{e}")
        if s > limit:
            raise TranscriptError(f"{kind} {i} starts at {s:.1f}s, after the recording's end ({duration_s:.1f}s)")


_EXACT_INTEGERS = 2.0**53  # below this every integer is exactly a float64


def _all_times_valid(start: list, end: list, limit: float) -> bool:
    """True if every ``(start[i], end[i])`` passes ``_check_times``' loop, decided with numpy.

    False when any fails or when numpy cannot decide exactly as the loop would (values
    that are not real numbers, or too large to be exact as float64): the loop then runs
    and raises the error it always raised, for the first bad item.
    """
    try:
        s = np.asarray(start)
        e = np.asarray(end)
    except (TypeError, ValueError, OverflowError):
        return False
    if s.ndim != 1 or e.ndim != 1 or s.dtype.kind not in "fiub" or e.dtype.kind not in "fiub":
        return False  # None (object), strings, nested lists...: the loop's checks decide
    s = s.astype(np.float64, copy=False)
    e = e.astype(np.float64, copy=False)
    if not (np.isfinite(s).all() and np.isfinite(e).all()):
        return False
    if len(s) and (np.abs(s).max() >= _EXACT_INTEGERS or np.abs(e).max() >= _EXACT_INTEGERS):
        return False
    return not ((s < 0).any() or (e < s).any() or (s > limit).any())


def _untimed(diarization: Diarization, segments: Segments, speaker_labels: dict[str, str] | None,
             text: str | None, audio_seconds: float | None, subtitle_urls: dict[str, str] | None) -> Transcript:
    """A transcript without timestamps: words are the segments' tokens, their times None (never invented)."""
    for key in set(segments.speaker):
        if not _CANONICAL.fullmatch(key):
            raise TranscriptError(f"speaker key {key!r} is not canonical (ch0.. or speaker_0..)")
    return Transcript(
        text=text if text is not None else " ".join(segments.text), diarization=diarization, segments=segments,
        words=_token_words(segments), audio_seconds=audio_seconds, original_speakers=dict(speaker_labels or {}),
        subtitle_urls=dict(subtitle_urls or {}),
    )


def _token_words(segments: Segments) -> Words:
    """Words as the segments' whitespace tokens, untimed: for providers that give no word timings."""
    words = Words()
    for idx, (speaker, line) in enumerate(zip(segments.speaker, segments.text)):
        for token in line.split():
            words.start.append(None)  # type: ignore[arg-type]
            words.end.append(None)  # type: ignore[arg-type]
            words.word.append(token)
            words.speaker.append(speaker)
            words.confidence.append(None)
            words.segment_idx.append(idx)
    return words
