"""Who said each word, and words grouped into per-party segments.

A *party* is a channel number (channel mode) or a speaker index (diarize mode);
``None`` means one undifferentiated voice stream (neither mode).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .transcriber import Word

MAX_PAUSE_S = 1.0  # a longer silence starts a new segment even for the same party
MAX_SEGMENT_S = 15.0  # keeps subtitle cues readable on monologues


@dataclass(frozen=True, slots=True)
class PartyWord:
    word: Word
    party: int | None


@dataclass(frozen=True, slots=True)
class PartySegment:
    start: float
    end: float
    text: str
    party: int | None
    words: tuple[PartyWord, ...]


class SpeakerTurnLike(Protocol):
    """What diarization returns per turn (``include.engine.speech.diarization.SpeakerTurn``)."""

    start: float
    end: float
    speaker: int


def by_time(words: Sequence[PartyWord]) -> list[PartyWord]:
    # Stable sort: words of one channel keep their order when starts tie.
    return sorted(words, key=lambda item: (item.word.start, item.word.end))


def group_segments(
    words: Sequence[PartyWord],
    *,
    max_pause: float = MAX_PAUSE_S,
    max_duration: float = MAX_SEGMENT_S,
) -> list[PartySegment]:
    """Consecutive words (in time order) of the same party, split on long pauses."""
    segments: list[PartySegment] = []
    current: list[PartyWord] = []
    for item in by_time(words):
        if current:
            first, last = current[0], current[-1]
            new_party = item.party != last.party
            paused = item.word.start - last.word.end > max_pause
            too_long = item.word.end - first.word.start > max_duration
            if new_party or paused or too_long:
                segments.append(_segment(current))
                current = []
        current.append(item)
    if current:
        segments.append(_segment(current))
    return segments


def _segment(words: list[PartyWord]) -> PartySegment:
    return PartySegment(
        start=words[0].word.start,
        end=max(item.word.end for item in words),
        text=join_words(item.word for item in words),
        party=words[0].party,
        words=tuple(words),
    )


def join_words(words: Iterable[Word]) -> str:
    parts: list[str] = []
    for word in words:
        if parts and not word.attached:
            parts.append(" ")
        parts.append(word.text)
    return "".join(parts)


def assign_speakers(words: Sequence[Word], turns: Sequence[SpeakerTurnLike]) -> list[PartyWord]:
    """Each word gets the speaker of the turn it overlaps most, else of the nearest turn.

    Speakers are renumbered by first appearance in the words, so ``speaker_0`` is
    whoever talks first whatever numbering the diarizer used.
    """
    if not turns:
        return [PartyWord(word, 0) for word in words]
    raw = [_best_turn(word, turns).speaker for word in words]
    order: dict[int, int] = {}
    for speaker in raw:
        order.setdefault(speaker, len(order))
    return [PartyWord(word, order[speaker]) for word, speaker in zip(words, raw)]


def _best_turn(word: Word, turns: Sequence[SpeakerTurnLike]) -> SpeakerTurnLike:
    def overlap(turn: SpeakerTurnLike) -> float:
        return min(word.end, turn.end) - max(word.start, turn.start)

    best = max(turns, key=overlap)
    if overlap(best) > 0:
        return best
    # No overlap (word in a gap the diarizer left out): the closest turn by edge distance.
    return min(turns, key=lambda turn: max(turn.start - word.end, word.start - turn.end))
