"""SRT and WebVTT bodies rendered from result-document segments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SUBTITLE_FORMATS = ("srt", "vtt")


def timestamp(seconds: float, decimal_sep: str) -> str:
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_sep}{millis:03d}"


def to_srt(segments: Iterable[Mapping[str, Any]]) -> str:
    # SRT has no speaker markup, so cues are plain text.
    cues = []
    for index, segment in enumerate(segments, start=1):
        start, end = timestamp(segment["start"], ","), timestamp(segment["end"], ",")
        cues.append(f"{index}\n{start} --> {end}\n{_cue_text(segment)}\n\n")
    return "".join(cues)


def to_vtt(segments: Iterable[Mapping[str, Any]]) -> str:
    # WebVTT voice spans (<v name>) carry who speaks.
    cues = ["WEBVTT\n\n"]
    for segment in segments:
        start, end = timestamp(segment["start"], "."), timestamp(segment["end"], ".")
        voice = _voice(segment)
        text = _cue_text(segment)
        cues.append(f"{start} --> {end}\n{f'<v {voice}>{text}' if voice else text}\n\n")
    return "".join(cues)


def render(segments: list[Mapping[str, Any]], formats: Iterable[str]) -> dict[str, str]:
    renderers = {"srt": to_srt, "vtt": to_vtt}
    return {fmt: renderers[fmt](segments) for fmt in formats if fmt in renderers}


def _voice(segment: Mapping[str, Any]) -> str | None:
    if "speaker" in segment:
        return str(segment["speaker"])
    if "channel" in segment:
        return f"channel_{segment['channel']}"
    return None


def _cue_text(segment: Mapping[str, Any]) -> str:
    # A blank line would end the cue early in both formats, and "-->" inside a
    # cue confuses parsers.
    text = " ".join(str(segment["text"]).split())
    return text.replace("-->", "->")
