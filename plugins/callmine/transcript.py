"""The canonical transcript model every provider normalizes into.

Segments and words are stored column-wise (one list per field) rather than as one
object per word: a day of calls is millions of words, and columns go straight into
Arrow without a per-row Python object.

Columns are never changed once ``build_transcript`` has returned: it records numpy
copies of the numeric columns it validated (``Segments.cached`` / ``Words.cached``) so
consumers (metrics, warehouse rows) do not convert a million floats again.

Speaker keys follow the warehouse contract: ``ch0``, ``ch1``... when speakers come
from stereo channels, ``speaker_0``, ``speaker_1``... from model diarization.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
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


def _cache() -> dict[str, np.ndarray]:
    return {}


@dataclass(slots=True)
class Segments:
    """Diarized segments in time order; index in these lists is ``segment_idx``."""

    start: list[float] = field(default_factory=list)
    end: list[float] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    speaker: list[str] = field(default_factory=list)
    channel: list[int | None] = field(default_factory=list)
    # Numpy copies recorded by build_transcript (see ``cached``); not part of the value.
    _arrays: dict[str, np.ndarray] = field(default_factory=_cache, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.start)

    def cached(self, name: str) -> np.ndarray | None:
        """float64 copy of ``start`` / ``end`` as ``build_transcript`` validated them, else None.

        None for segments not built by ``build_transcript`` (or untimed): callers convert the
        list themselves. Valid because columns are not changed after ``build_transcript``.
        """
        return _cached(self._arrays, name, len(self.start))

    def drop_cached(self, name: str) -> None:
        """Forget the cached copy of ``name`` (its column was changed)."""
        self._arrays.pop(name, None)

    def clear_cached(self) -> None:
        """Forget every cached copy."""
        self._arrays.clear()


@dataclass(slots=True)
class Words:
    """Timed words in time order; index in these lists is ``word_idx``."""

    start: list[float] = field(default_factory=list)
    end: list[float] = field(default_factory=list)
    word: list[str] = field(default_factory=list)
    speaker: list[str] = field(default_factory=list)
    confidence: list[float | None] = field(default_factory=list)
    segment_idx: list[int] = field(default_factory=list)
    # Numpy copies recorded by build_transcript / link_words (see ``cached``); not part of the value.
    _arrays: dict[str, np.ndarray] = field(default_factory=_cache, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.start)

    def cached(self, name: str) -> np.ndarray | None:
        """A numpy copy of a column recorded when the words were built, else None.

        ``start`` / ``end`` / ``confidence``: float64 (when validated exact; ``confidence``
        only when no word lacks one); ``segment_idx``: int64;
        ``speaker_code``: int64 with ``speaker[i] == cached("speaker_keys")[speaker_code[i]]``
        (``speaker_keys``: object array of the distinct keys). Valid because columns are not
        changed after ``build_transcript``.
        """
        return _cached(self._arrays, name, len(self.start))

    def drop_cached(self, name: str) -> None:
        """Forget the cached copy of ``name`` (its column was changed)."""
        self._arrays.pop(name, None)

    def clear_cached(self) -> None:
        """Forget every cached copy."""
        self._arrays.clear()


def record_arrays(columns: Segments | Words, **arrays: np.ndarray) -> None:
    """Keep numpy copies of ``columns``' columns for ``cached``, as read-only views.

    The columns never change after ``build_transcript``, so neither may their copies; the
    view leaves the caller's own array (e.g. ``WordArrays.confidence``) writable.
    """
    for name, array in arrays.items():
        view = array.view()
        view.flags.writeable = False
        columns._arrays[name] = view


def _cached(arrays: dict[str, np.ndarray], name: str, n: int) -> np.ndarray | None:
    arr = arrays.get(name)
    if arr is None or (name != "speaker_keys" and len(arr) != n):  # a column changed length: stale
        return None
    return arr


@dataclass(frozen=True, slots=True)
class SpeakerCodes:
    """A speaker column as codes: item i's key is ``keys[codes[i]]`` (None: no speaker).

    A provider that knows its few distinct speakers passes this to ``build_transcript``
    instead of a list of a million key strings; linking works on the integer codes.
    """

    codes: np.ndarray  # integer, one per item
    keys: tuple[str | None, ...]

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def of(cls, keys: Sequence[str | None]) -> SpeakerCodes:
        """Codes of a list of keys (raises ``TypeError`` on an unhashable key, as ``set()`` would)."""
        code_of = {key: i for i, key in enumerate(dict.fromkeys(keys))}
        return cls(np.fromiter(map(code_of.__getitem__, keys), np.int64, len(keys)), tuple(code_of))

    def used_keys(self) -> list[str | None]:
        """The keys some item has, in ``keys`` order."""
        present = np.bincount(self.codes, minlength=len(self.keys)) if len(self.codes) else ()
        return [key for key, count in zip(self.keys, present) if count]

    def tolist(self) -> list[str | None]:
        return object_array(self.keys)[self.codes].tolist()


@dataclass(frozen=True, slots=True)
class WordArrays:
    """float64 copies of word columns that a typed decoder guarantees are floats (equal to the lists).

    Given to ``build_transcript`` so a million values are not converted again;
    ``confidence`` only when no word lacks one (None has no float64 equal).
    """

    start: np.ndarray
    end: np.ndarray
    confidence: np.ndarray | None = None


def object_array(values: Sequence[object]) -> np.ndarray:
    """1-d object array of ``values``, each item as is (strings and tuples are not unpacked)."""
    return np.fromiter(values, dtype=object, count=len(values))


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
    word_speaker: list[str | None] | SpeakerCodes,
    word_confidence: list[float | None],
    speaker_labels: dict[str, str] | None = None,
    text: str | None = None,
    audio_seconds: float | None = None,
    duration_s: float | None = None,
    subtitle_urls: dict[str, str] | None = None,
    word_arrays: WordArrays | None = None,
    segment_times: tuple[np.ndarray, np.ndarray] | None = None,
    reorder_in_place: bool = False,
) -> Transcript:
    """The one place a transcript is made valid; every provider builds through it.

    Segments are put in time order and words linked to them (``callmine.normalize``);
    then the transcript is checked: canonical speaker keys (``chN`` / ``speaker_N``),
    finite non-negative times with ``end >= start`` (untimed segments, all-None times,
    are allowed for providers without timestamps), and nothing past the recording's end
    (``duration_s``, with a 1 s tolerance; times inside it are clipped to it). Nothing
    downstream re-sorts or re-conforms. ``speaker_labels`` maps canonical keys to the
    provider's own labels (e.g. ``{"speaker_0": "A"}``).

    For speed, a provider whose decoder guarantees float times may give ``word_speaker``
    as ``SpeakerCodes``, ``word_arrays`` (``WordArrays``) and ``segment_times`` (float64
    copies of the segments' start and end), so values are not converted twice; and
    ``reorder_in_place`` when the word lists are its own temporaries (the transcript then
    holds them, put in time order in place instead of copied).
    """
    from callmine.normalize import link_words, sort_segments

    seg_times = _check_segments(segments, duration_s, segment_times)
    if len(segments) and segments.start[0] is None:
        return _untimed(diarization, segments, speaker_labels, text, audio_seconds, subtitle_urls)
    given = None if word_arrays is None else (word_arrays.start, word_arrays.end)
    word_times = _check_times("word", word_start, word_end, duration_s, timed_required=True, arrays=given)
    word_keys = set(word_speaker.used_keys() if isinstance(word_speaker, SpeakerCodes) else word_speaker)
    word_keys.discard(None)
    for key in set(segments.speaker) | word_keys:
        if not _CANONICAL.fullmatch(key):
            raise TranscriptError(f"speaker key {key!r} is not canonical (ch0.. or speaker_0..)")
    ordered = sort_segments(segments, seg_times)
    # No word timings from the provider: the segments' tokens, their times None (never invented).
    words = (link_words(ordered, word_start, word_end, word_text, word_speaker, word_confidence, times=word_times,
                        confidence_array=None if word_arrays is None else word_arrays.confidence,
                        in_place=reorder_in_place)
             if word_start else _token_words(ordered))
    if duration_s:
        _clip_ends(ordered, duration_s)
        _clip_ends(words, duration_s)
    return Transcript(
        text=text if text is not None else " ".join(ordered.text),
        diarization=diarization,
        segments=ordered,
        words=words,
        audio_seconds=audio_seconds,
        original_speakers=dict(speaker_labels or {}),
        subtitle_urls=dict(subtitle_urls or {}),
    )


def _clip_ends(columns: Segments | Words, duration_s: float) -> None:
    """``end = min(end, duration_s)`` in place (None stays None), and in the cached copy."""
    ends = columns.cached("end")
    if ends is None or type(duration_s) not in (float, int) or abs(duration_s) >= _EXACT_INTEGERS:
        columns.end[:] = [None if e is None else min(e, duration_s) for e in columns.end]
        columns.drop_cached("end")
        return
    over = duration_s < ends  # ``min(e, d)`` is ``d`` exactly when ``d < e``
    if over.any():
        for i in np.flatnonzero(over).tolist():
            columns.end[i] = duration_s
        record_arrays(columns, end=np.where(over, float(duration_s), ends))


def _check_segments(segments: Segments, duration_s: float | None,
                    times: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Raises on invalid segments; the float64 time columns when numpy decided them, else None.

    ``times``: the start and end columns as float64 (floats: none is None), to skip converting.
    """
    n = len(segments)
    if not (len(segments.end) == len(segments.text) == len(segments.speaker) == len(segments.channel) == n):
        raise TranscriptError("segment columns differ in length")
    # ``count`` (C speed) finds every None (identity comes first); only then the exact per-item test.
    nones = times is None and segments.start.count(None)
    untimed = [s is None for s in segments.start] if nones else [False] * bool(n)
    if any(untimed) and not all(untimed):
        raise TranscriptError("some segments have times and others not")
    if not all(untimed):
        return _check_times("segment", segments.start, segments.end, duration_s, timed_required=True, arrays=times)
    return None


def _check_times(kind: str, start: list, end: list, duration_s: float | None, timed_required: bool,
                 arrays: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Raises on the first invalid item; returns the columns as float64 when numpy decided them.

    ``arrays``: the columns already as float64 (equal to the lists), to skip converting.
    """
    if len(start) != len(end):
        raise TranscriptError(f"{kind} start and end columns differ in length")
    limit = duration_s + 1.0 if duration_s else math.inf
    valid = _valid_time_arrays(start, end, limit, arrays)
    if valid is not None:  # the usual case, decided column-wise
        return valid
    for i, (s, e) in enumerate(zip(start, end)):
        if s is None or e is None or not (math.isfinite(s) and math.isfinite(e)):
            raise TranscriptError(f"{kind} {i} has no valid time ({s!r}..{e!r})")
        if s < 0 or e < s:
            raise TranscriptError(f"{kind} {i} has impossible times {s}..{e}")
        if s > limit:
            raise TranscriptError(f"{kind} {i} starts at {s:.1f}s, after the recording's end ({duration_s:.1f}s)")
    return None


_EXACT_INTEGERS = 2.0**53  # below this every integer is exactly a float64


def _valid_time_arrays(start: list, end: list, limit: float,
                       arrays: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The columns as float64 if every ``(start[i], end[i])`` passes ``_check_times``' loop, else None.

    None when any fails or when numpy cannot decide exactly as the loop would (values
    that are not real numbers, or too large to be exact as float64): the loop then runs
    and raises the error it always raised, for the first bad item. The arrays are exact
    copies of the lists, so callers reuse them.
    """
    if arrays is not None:
        s, e = arrays
    else:
        try:
            s = np.asarray(start)
            e = np.asarray(end)
        except (TypeError, ValueError, OverflowError):
            return None
        if s.ndim != 1 or e.ndim != 1 or s.dtype.kind not in "fiub" or e.dtype.kind not in "fiub":
            return None  # None (object), strings, nested lists...: the loop's checks decide
        s = s.astype(np.float64, copy=False)
        e = e.astype(np.float64, copy=False)
    if len(s) == 0:
        return s, e
    # Min and max carry NaN and the infinities: six numpy calls decide every rule.
    s_min, s_max, e_min, e_max = s.min(), s.max(), e.min(), e.max()
    if not (0 <= s_min and s_max < _EXACT_INTEGERS and s_max <= limit and 0 <= e_min and e_max < _EXACT_INTEGERS):
        return None
    if (e < s).any():
        return None
    return s, e


def _untimed(diarization: Diarization, segments: Segments, speaker_labels: dict[str, str] | None,
             text: str | None, audio_seconds: float | None, subtitle_urls: dict[str, str] | None) -> Transcript:
    """A transcript without timestamps: words are the segments' tokens, their times None (never invented)."""
    for key in set(segments.speaker):
        if not _CANONICAL.fullmatch(key):
            raise TranscriptError(f"speaker key {key!r} is not canonical (ch0.. or speaker_0..)")
    segments.clear_cached()  # no times to cache (and none left from an earlier build)
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
