"""The canonical transcript model every provider normalizes into.

Segments and words are stored column-wise (one list per field) rather than as one
object per word: a day of calls is millions of words, and columns go straight into
Arrow without a per-row Python object.

Speaker keys follow the warehouse contract: ``ch0``, ``ch1``... when speakers come
from stereo channels, ``speaker_0``, ``speaker_1``... from model diarization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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
