"""Probe a recording's container header (duration, channels, codec) without decoding it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

import av


@dataclass(frozen=True, slots=True)
class ProbeResult:
    duration_s: float | None = None
    channels: int | None = None
    codec: str | None = None
    sample_rate: int | None = None
    error: str | None = None


def _duration_from_packets(container: av.container.InputContainer, stream: av.audio.AudioStream) -> float:
    """Some containers (raw AAC/AMR) carry no duration: sum packet durations (demux, no decode)."""
    ticks = 0
    for packet in container.demux(stream):
        if packet.duration:
            ticks += packet.duration
    return float(ticks * stream.time_base) if stream.time_base else 0.0


def probe_audio(source: str | IO[bytes]) -> ProbeResult:
    """Never raises for bad media: an unreadable recording is a result with ``error`` set."""
    try:
        with av.open(source, mode="r") as container:
            if not container.streams.audio:
                return ProbeResult(error="no audio stream in the file")
            stream = container.streams.audio[0]
            ctx = stream.codec_context
            channels = ctx.layout.nb_channels if ctx.layout else ctx.channels
            if container.duration is not None:
                duration = container.duration / av.time_base
            elif stream.duration is not None and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = _duration_from_packets(container, stream)
            if not duration or duration <= 0:
                return ProbeResult(channels=channels, codec=ctx.name, error="recording is empty (0 s of audio)")
            return ProbeResult(duration_s=round(duration, 3), channels=channels, codec=ctx.name,
                               sample_rate=ctx.sample_rate)
    except av.error.FFmpegError as exc:
        # strerror is FFmpeg's own sentence; str(exc) adds an errno and the file name.
        return ProbeResult(error=f"unreadable audio: {exc.strerror or exc}")
    except (ValueError, OSError, EOFError) as exc:
        return ProbeResult(error=f"unreadable audio: {exc}")
