"""Per-speaker conversation metrics for one call.

The definitions are a public contract (analysts compare them across calls and
months), all per call and per speaker, times in seconds:

- ``talk_s``: length of the union of the speaker's segments (overlapping or
  touching segments of one speaker count once).
- ``talk_ratio``: ``talk_s`` / sum of every speaker's ``talk_s`` (silence is
  excluded, so the ratios sum to 1). If nobody talked (total 0) every ratio is 0.0.
- ``turns``: maximal runs of consecutive segments, in start-time order, by the
  same speaker.
- ``longest_monologue_s``: the longest turn, from its first segment's start to
  its end. A turn ends at the latest end among its segments, which is the last
  segment's end unless one segment of the speaker nests inside another.
- ``word_count``: words whose ``Words.speaker`` is the speaker.
- ``words_per_minute``: ``word_count / (talk_s / 60)``; None when ``talk_s`` is 0.
- ``questions``: sentences ending in ``?``. A sentence ends at a run of ``.``,
  ``!``, ``?``; it is a question when that run contains ``?`` (so "What?!" counts)
  and the sentence has at least one word character (a stray "?" does not).
- ``interruptions``: segment starts made while another speaker's speech (the
  union of their segments) began earlier and is still going, with
  ``min(that speech's end, this segment's end) - this segment's start`` greater
  than 0.3 s. One per segment start, however many speakers were talked over.
- ``patience_s``: mean of ``max(0, this turn's start - previous turn's end)``
  over the speaker's turns that follow another speaker's turn; None when the
  speaker never follows anyone (e.g. a lone speaker, or only the opening turn).

Segments come in time order: ``build_transcript`` sorted and validated them once,
so nothing here re-sorts. Segments whose end is before their start are treated as
zero-length. A call's metrics are computed column-wise with numpy (``_column_parts``);
segments given out of start order take the per-segment path (``_scalar_parts``), with
the same results for the same input as before.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from callmine.transcript import Segments, Words

INTERRUPTION_MIN_OVERLAP_S = 0.3
# Timestamps are floats: an overlap of exactly 0.3 s computes as 0.30000000000000004
# and would flip the "> 0.3" rule. Differences below this are treated as equal.
_TIME_EPSILON = 1e-9

_TERMINATORS = frozenset(".!?")  # a run of these ends a sentence
_WORD_CHAR = re.compile(r"\w")


@dataclass(slots=True)
class SpeakerMetrics:
    speaker: str
    role: str | None
    talk_s: float | None
    talk_ratio: float | None
    word_count: int
    words_per_minute: float | None
    turns: int
    longest_monologue_s: float | None
    questions: int
    interruptions: int | None
    patience_s: float | None


@dataclass(slots=True)
class _Span:
    speaker: str
    start: float
    end: float


Interval = tuple[float, float]


def compute_speaker_metrics(
    segments: Segments, words: Words, roles: Mapping[str, str | None]
) -> list[SpeakerMetrics]:
    """One row per speaker appearing in ``segments``, ordered by speaker key.

    ``roles`` maps speaker key -> role; speakers missing from it get role None.
    Words of speakers that have no segment are ignored (there is no row to put
    them on).
    """
    speakers = sorted(set(segments.speaker))
    if not speakers:
        return []
    parts = _column_parts(segments, speakers)
    if parts is None:
        parts = _scalar_parts(segments, speakers)
    talk, turn_counts, longest, interruptions, patience = parts
    total_talk = sum(talk.values())  # in speaker order, as the contract's sum
    word_counts = _word_counts(words, speakers)
    questions: Counter[str] = Counter()
    for speaker, text in zip(segments.speaker, segments.text):
        if "?" in text:  # count_questions is 0 without one; most segments have none
            questions[speaker] += count_questions(text)

    rows = []
    for spk in speakers:
        talk_s = talk[spk]
        rows.append(
            SpeakerMetrics(
                speaker=spk,
                role=roles.get(spk),
                talk_s=talk_s,
                talk_ratio=talk_s / total_talk if total_talk > 0 else 0.0,
                word_count=word_counts[spk],
                words_per_minute=word_counts[spk] / (talk_s / 60) if talk_s > 0 else None,
                turns=turn_counts[spk],
                longest_monologue_s=longest[spk],
                questions=questions[spk],
                interruptions=interruptions[spk],
                patience_s=patience.get(spk),
            )
        )
    return rows


class _Parts(NamedTuple):
    """The metrics' time parts, each by speaker (``_column_parts`` / ``_scalar_parts``)."""

    talk: dict[str, float]  # talk_s
    turns: Mapping[str, int]
    longest: Mapping[str, float]  # longest monologue
    interruptions: Mapping[str, int]
    patience: dict[str, float]  # only speakers with a gap before a turn of theirs


def _word_counts(words: Words, speakers: list[str]) -> dict[str, int]:
    codes, keys = words.cached("speaker_code"), words.cached("speaker_keys")
    if codes is None or keys is None:
        return {spk: words.speaker.count(spk) for spk in speakers}  # a C loop per speaker (a few)
    counts = dict(zip(keys.tolist(), np.bincount(codes, minlength=len(keys)).tolist()))
    return {spk: counts.get(spk, 0) for spk in speakers}


def _time_columns(segments: Segments) -> tuple[np.ndarray, np.ndarray] | None:
    """float64 start/end when they are exact, finite and in start order, else None."""
    if not len(segments.start) == len(segments.end) == len(segments.speaker):
        return None  # ragged columns (built by hand): zip's truncation, as the per-segment path does
    start, end = segments.cached("start"), segments.cached("end")
    if start is None or end is None:  # segments built by hand: only plain numbers qualify
        try:
            start, end = np.asarray(segments.start), np.asarray(segments.end)
        except (TypeError, ValueError, OverflowError):
            return None
        if start.ndim != 1 or end.ndim != 1 or start.dtype.kind not in "fiub" or end.dtype.kind not in "fiub":
            return None  # None, strings...: the per-segment path behaves as it always did
        start, end = start.astype(np.float64), end.astype(np.float64)
        if not (np.abs(start).max() < _EXACT and np.abs(end).max() < _EXACT):  # NaN, inf, huge ints
            return None
    if (start[1:] < start[:-1]).any():
        return None
    return start, end


_EXACT = 2.0**53  # every integer below this is exact as float64: numpy computes what Python does


def _column_parts(segments: Segments, speakers: list[str]) -> _Parts | None:
    """The metrics' time parts with numpy over the call's segments (None: use ``_scalar_parts``).

    The same float operations as ``_scalar_parts``, per segment or interval, and sums
    taken in the same order by Python's ``sum``, so the values are identical; it needs
    segments in start order (what ``build_transcript`` makes), which one merge pass per
    speaker relies on.
    """
    times = _time_columns(segments)
    if times is None:
        return None
    start, end = times
    end = np.where(end > start, end, start)  # ``max(start, end)``: a segment ending early has no length
    code_of = {spk: i for i, spk in enumerate(speakers)}
    code = np.fromiter(map(code_of.__getitem__, segments.speaker), np.int64, len(start))

    talk: dict[str, float] = {}
    speech: list[tuple[np.ndarray, np.ndarray]] = []  # per speaker: disjoint intervals, in time order
    for i, spk in enumerate(speakers):
        s, e = start[code == i], end[code == i]
        reach = np.maximum.accumulate(e)  # in start order, the end of the speech each segment may join
        opens = np.empty(len(s), dtype=bool)  # a segment starting after that end opens an interval
        opens[0] = True
        np.greater(s[1:], reach[:-1], out=opens[1:])
        closes = np.empty(len(s), dtype=bool)  # ... and closes the one before
        closes[-1] = True
        closes[:-1] = opens[1:]
        interval_start, interval_end = s[opens], reach[closes]
        speech.append((interval_start, interval_end))
        talk[spk] = sum((interval_end - interval_start).tolist())

    turn_opens = np.empty(len(code), dtype=bool)  # a turn starts where the speaker changes
    turn_opens[0] = True
    np.not_equal(code[1:], code[:-1], out=turn_opens[1:])
    firsts = np.flatnonzero(turn_opens)
    turn_code, turn_start = code[firsts], start[firsts]
    turn_end = np.maximum.reduceat(end, firsts)
    length = turn_end - turn_start
    gap = turn_start[1:] - turn_end[:-1]
    gap = np.where(gap > 0.0, gap, 0.0)  # ``max(0.0, gap)``
    turns: dict[str, int] = {}
    longest: dict[str, float] = {}
    patience: dict[str, float] = {}
    for i, spk in enumerate(speakers):
        own = turn_code == i
        turns[spk] = int(np.count_nonzero(own))
        longest[spk] = float(length[own].max())  # every speaker has a turn; lengths are >= 0.0
        values = gap[own[1:]].tolist()  # gaps before the speaker's turns that follow another's
        if values:
            patience[spk] = sum(values) / len(values)

    interrupting = np.zeros(len(start), dtype=bool)
    for i, (interval_start, interval_end) in enumerate(speech):
        # Speaker i's last interval that began strictly before each segment start; none: -inf.
        k = np.searchsorted(interval_start, start, side="left")
        overlap = np.minimum(np.concatenate(([-np.inf], interval_end))[k], end) - start
        interrupting |= (overlap - INTERRUPTION_MIN_OVERLAP_S > _TIME_EPSILON) & (code != i)
    interruptions = dict(zip(speakers, np.bincount(code[interrupting], minlength=len(speakers)).tolist()))
    return _Parts(talk, turns, longest, interruptions, patience)


def _scalar_parts(segments: Segments, speakers: list[str]) -> _Parts:
    """The time parts one segment at a time: segments out of start order, or times numpy cannot copy exactly."""
    spans = _sorted_spans(segments)
    speech = _speech_by_speaker(spans)
    talk = {spk: sum(end - start for start, end in speech[spk]) for spk in speakers}
    turns = _turns(spans)
    longest: dict[str, float] = defaultdict(float)
    for turn in turns:
        longest[turn.speaker] = max(longest[turn.speaker], turn.end - turn.start)
    return _Parts(talk, Counter(turn.speaker for turn in turns), longest, _count_interruptions(spans, speech),
                  _mean_patience(turns))


def count_questions(text: str) -> int:
    """Sentences in ``text`` whose closing punctuation run contains ``?``.

    Only a run with a ``?`` can close a question, so this jumps from one ``?`` to the
    next (``str.find``) and looks back to the sentence's start (the previous run), at C
    speed, instead of walking every sentence.
    """
    count = 0
    sentence_start = 0  # where the sentence after the last ``?`` run starts
    n = len(text)
    i = text.find("?")
    while i >= 0:
        run_start = i
        while run_start > sentence_start and text[run_start - 1] in _TERMINATORS:
            run_start -= 1
        # The sentence begins after the last terminator before its run (or where the previous ? run ended).
        begin = 1 + max(sentence_start - 1, text.rfind(".", sentence_start, run_start),
                        text.rfind("!", sentence_start, run_start), text.rfind("?", sentence_start, run_start))
        if _WORD_CHAR.search(text, begin, run_start):  # a stray "?" is not a question
            count += 1
        run_end = i + 1
        while run_end < n and text[run_end] in _TERMINATORS:
            run_end += 1
        sentence_start = run_end
        i = text.find("?", run_end)
    return count


def _sorted_spans(segments: Segments) -> list[_Span]:
    """The segments as spans; a ``Transcript``'s segments are already in time order (validated once)."""
    return [_Span(speaker, start, max(start, end))
            for speaker, start, end in zip(segments.speaker, segments.start, segments.end)]


def _speech_by_speaker(spans: list[_Span]) -> dict[str, list[Interval]]:
    """Union of each speaker's spans as disjoint intervals, in time order."""
    merged: dict[str, list[Interval]] = defaultdict(list)
    for span in spans:  # already in start order, so one merge pass suffices
        intervals = merged[span.speaker]
        if intervals and span.start <= intervals[-1][1]:
            last_start, last_end = intervals[-1]
            intervals[-1] = (last_start, max(last_end, span.end))
        else:
            intervals.append((span.start, span.end))
    return merged


def _turns(spans: list[_Span]) -> list[_Span]:
    turns: list[_Span] = []
    for span in spans:
        if turns and turns[-1].speaker == span.speaker:
            turns[-1].end = max(turns[-1].end, span.end)
        else:
            turns.append(_Span(span.speaker, span.start, span.end))
    return turns


def _count_interruptions(
    spans: list[_Span], speech: dict[str, list[Interval]]
) -> Counter[str]:
    starts = {spk: [start for start, _ in intervals] for spk, intervals in speech.items()}
    counts: Counter[str] = Counter()
    for span in spans:
        for other, intervals in speech.items():
            if other == span.speaker:
                continue
            # The other's speech is disjoint intervals: only the last one that
            # began strictly before this start can still be going.
            k = bisect_left(starts[other], span.start) - 1
            if k < 0:
                continue
            overlap = min(intervals[k][1], span.end) - span.start
            if overlap - INTERRUPTION_MIN_OVERLAP_S > _TIME_EPSILON:
                counts[span.speaker] += 1
                break  # one interruption per start
    return counts


def _mean_patience(turns: list[_Span]) -> dict[str, float]:
    gaps: dict[str, list[float]] = defaultdict(list)
    for previous, turn in zip(turns, turns[1:]):
        # Consecutive turns always belong to different speakers.
        gaps[turn.speaker].append(max(0.0, turn.start - previous.end))
    return {spk: sum(values) / len(values) for spk, values in gaps.items()}


def untimed_speaker_metrics(
    segments: Segments, words: Words, roles: Mapping[str, str | None], talk_s: Mapping[str, float] | None,
) -> list[SpeakerMetrics]:
    """Metrics of a transcript without timestamps (e.g. CallMissed): what needs times is None.

    ``talk_s`` comes from the provider's own per-speaker timing when it gives one; the
    segments' order still gives turns, and the text gives words and questions.
    """
    speakers = sorted(set(segments.speaker))
    talk = {spk: (talk_s or {}).get(spk) for spk in speakers}
    known = [t for t in talk.values() if t is not None]
    total = sum(known) if len(known) == len(speakers) else None
    word_counts = Counter(words.speaker)
    questions: Counter[str] = Counter()
    turn_counts: Counter[str] = Counter()
    previous = None
    for speaker, text in zip(segments.speaker, segments.text):
        questions[speaker] += count_questions(text)
        if speaker != previous:
            turn_counts[speaker] += 1
        previous = speaker
    return [
        SpeakerMetrics(
            speaker=spk, role=roles.get(spk), talk_s=talk[spk],
            talk_ratio=talk[spk] / total if total and talk[spk] is not None else None,
            word_count=word_counts[spk],
            words_per_minute=word_counts[spk] / (talk[spk] / 60) if talk[spk] else None,
            turns=turn_counts[spk], longest_monologue_s=None, questions=questions[spk],
            interruptions=None, patience_s=None,
        )
        for spk in speakers
    ]
