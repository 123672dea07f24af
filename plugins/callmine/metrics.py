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
zero-length.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from callmine.transcript import Segments, Words

INTERRUPTION_MIN_OVERLAP_S = 0.3
# Timestamps are floats: an overlap of exactly 0.3 s computes as 0.30000000000000004
# and would flip the "> 0.3" rule. Differences below this are treated as equal.
_TIME_EPSILON = 1e-9

_SENTENCE_END = re.compile(r"[.!?]+")
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
    spans = _sorted_spans(segments)
    speakers = sorted({span.speaker for span in spans})
    speech = _speech_by_speaker(spans)
    talk = {spk: sum(end - start for start, end in speech[spk]) for spk in speakers}
    total_talk = sum(talk.values())
    turns = _turns(spans)

    word_counts = {spk: words.speaker.count(spk) for spk in speakers}  # a C loop per speaker (a few)
    questions: Counter[str] = Counter()
    for speaker, text in zip(segments.speaker, segments.text):
        if "?" in text:  # count_questions is 0 without one; most segments have none
            questions[speaker] += count_questions(text)
    interruptions = _count_interruptions(spans, speech)
    patience = _mean_patience(turns)
    turn_counts = Counter(turn.speaker for turn in turns)
    longest: dict[str, float] = defaultdict(float)
    for turn in turns:
        longest[turn.speaker] = max(longest[turn.speaker], turn.end - turn.start)

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


def count_questions(text: str) -> int:
    """Sentences in ``text`` whose closing punctuation run contains ``?``."""
    if "?" not in text:  # most segments: skip the regex
        return 0
    count = 0
    sentence_start = 0
    for end in _SENTENCE_END.finditer(text):
        # Only '?' runs can add to the count, so decimals ("3.5") splitting a
        # sentence in two never create a question.
        if "?" in end.group() and _WORD_CHAR.search(text, sentence_start, end.start()):
            count += 1
        sentence_start = end.end()
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
