"""SRT and WebVTT bodies rendered from result segments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _timestamp(seconds: float, decimal_sep: str) -> str:
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_sep}{millis:03d}"


def _voice(segment: Mapping[str, Any]) -> str | None:
    if "speaker" in segment:
        return str(segment["speaker"])
    if "channel" in segment:
        return f"channel_{segment['channel']}"
    return None


def to_srt(segments: Iterable[Mapping[str, Any]]) -> str:
    # SRT has no speaker markup, so cues are plain text.
    cues = []
    for index, segment in enumerate(segments, start=1):
        start = _timestamp(segment["start"], ",")
        end = _timestamp(segment["end"], ",")
        cues.append(f"{index}\n{start} --> {end}\n{segment['text']}\n\n")
    return "".join(cues)


def to_vtt(segments: Iterable[Mapping[str, Any]]) -> str:
    # WebVTT voice spans (<v name>) carry who speaks.
    cues = ["WEBVTT\n\n"]
    for segment in segments:
        start = _timestamp(segment["start"], ".")
        end = _timestamp(segment["end"], ".")
        voice = _voice(segment)
        text = f"<v {voice}>{segment['text']}" if voice else str(segment["text"])
        cues.append(f"{start} --> {end}\n{text}\n\n")
    return "".join(cues)
