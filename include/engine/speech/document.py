"""The PyAI Hear result document (minus ``formats``, which the HTTP service signs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from .speakers import PartySegment, PartyWord

Mode = Literal["plain", "channel", "diarize"]


def build_document(
    words: Sequence[PartyWord],
    segments: Sequence[PartySegment],
    *,
    audio_seconds: float,
    mode: Mode,
    language: str | None,
) -> dict[str, Any]:
    """``channel`` ints in channel mode, ``speaker_N`` labels in diarize mode, neither otherwise."""
    doc_segments = [
        {"start": _t(seg.start), "end": _t(seg.end), "text": seg.text, **_who(seg.party, mode)}
        for seg in segments
    ]
    doc_words = [
        {
            "start": _t(item.word.start),
            "end": _t(item.word.end),
            "word": item.word.text,
            "confidence": round(item.word.probability, 3),
            **_who(item.party, mode),
        }
        for item in words
    ]
    return {
        "text": " ".join(seg.text for seg in segments),
        "language": language,
        "audio_seconds": round(audio_seconds, 2),
        "speakers": _speaker_count(words, mode),
        "segments": doc_segments,
        "words": doc_words,
    }


def _t(seconds: float) -> float:
    return round(max(seconds, 0.0), 3)


def _who(party: int | None, mode: Mode) -> dict[str, Any]:
    if mode == "channel":
        return {"channel": int(party or 0)}
    if mode == "diarize":
        return {"speaker": f"speaker_{int(party or 0)}"}
    return {}


def _speaker_count(words: Sequence[PartyWord], mode: Mode) -> int:
    if not words:
        return 0
    if mode == "plain":
        return 1  # no attribution: one undifferentiated voice stream
    return len({item.party for item in words})
