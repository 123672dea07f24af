"""Duration and channel count of an audio blob, via PyAV, without decoding when possible."""

from __future__ import annotations

import io
from dataclasses import dataclass

import av


class UndecodableAudio(Exception):
    """The bytes are not audio we can read (garbage, empty, zero-length)."""


@dataclass(frozen=True, slots=True)
class AudioInfo:
    duration_s: float
    channels: int


# FFmpeg's default probing reads and decodes ahead (~4 ms per small WAV); headers of
# common formats (wav, mp3, ogg, m4a, flac) carry duration and channels in the first
# bytes, so try a minimal probe first and only fall back to the full one.
_QUICK_PROBE = {"probesize": "32", "analyzeduration": "0"}


def probe_audio(data: bytes) -> AudioInfo:
    if not data:
        raise UndecodableAudio("empty audio")
    try:
        info = _probe(data, _QUICK_PROBE, allow_demux=False)
    except (UndecodableAudio, av.FFmpegError, ValueError, OSError):
        info = None  # maybe just too few bytes probed: the full probe decides
    try:
        if info is None:
            info = _probe(data, None, allow_demux=True)
    except UndecodableAudio:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:  # PyAV raises subclasses of these
        raise UndecodableAudio(str(exc)) from exc
    if info is None or info.duration_s <= 0:
        raise UndecodableAudio("zero-length audio")
    return info


def _probe(data: bytes, options: dict[str, str] | None, *, allow_demux: bool) -> AudioInfo | None:
    with av.open(io.BytesIO(data), mode="r", options=options) as container:
        if not container.streams.audio:
            raise UndecodableAudio("no audio stream")
        stream = container.streams.audio[0]
        channels = int(stream.codec_context.channels or 0)
        duration = _header_duration(container, stream)
        if duration <= 0 and allow_demux:
            # Header did not say (or said 0): count packets, then decode as a last resort.
            duration = _demuxed_duration(container, stream)
        if channels <= 0 or duration <= 0:
            return None
        return AudioInfo(duration_s=duration, channels=channels)


def _header_duration(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _demuxed_duration(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    seconds = 0.0
    samples = 0
    rate = stream.codec_context.sample_rate or 0
    for packet in container.demux(stream):
        if packet.duration and packet.time_base is not None:
            seconds += float(packet.duration * packet.time_base)
        elif rate:
            for frame in packet.decode():
                samples += frame.samples
    if seconds <= 0 and rate:
        seconds = samples / rate
    return seconds
