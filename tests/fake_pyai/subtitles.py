"""SRT and WebVTT bodies for the ``formats`` signed URLs, rendered from result segments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Segment = Mapping[str, Any]


def _clock(seconds: float, fraction_sep: str) -> str:
    # SRT writes 00:00:01,500 and WebVTT 00:00:01.500; otherwise the same clock.
    total_ms = round(max(0.0, float(seconds)) * 1000)
    hours, total_ms = divmod(total_ms, 3_600_000)
    minutes, total_ms = divmod(total_ms, 60_000)
    secs, millis = divmod(total_ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{fraction_sep}{millis:03d}"


def _text(segment: Segment) -> str:
    # A blank line ends a cue in both formats and "-->" is the timing arrow: keep cues one line.
    return " ".join(str(segment["text"]).split()).replace("-->", "->")


def _voice(segment: Segment) -> str | None:
    if "speaker" in segment:
        return str(segment["speaker"])
    if "channel" in segment:
        return f"channel_{segment['channel']}"
    return None


def to_srt(segments: Iterable[Segment]) -> str:
    # SRT has no speaker markup: numbered cues of plain text.
    return "".join(
        f"{number}\n{_clock(seg['start'], ',')} --> {_clock(seg['end'], ',')}\n{_text(seg)}\n\n"
        for number, seg in enumerate(segments, start=1)
    )


def to_vtt(segments: Iterable[Segment]) -> str:
    # WebVTT voice spans (<v name>) say who speaks.
    cues = ["WEBVTT\n\n"]
    for seg in segments:
        voice = _voice(seg)
        text = f"<v {voice}>{_text(seg)}" if voice else _text(seg)
        cues.append(f"{_clock(seg['start'], '.')} --> {_clock(seg['end'], '.')}\n{text}\n\n")
    return "".join(cues)
