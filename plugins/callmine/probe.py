"""Probe a recording's container header (duration, channels, codec) without decoding it.

What the probe decides about hostile media (every case is a ``ProbeResult.error``, never
an exception; discovery turns it into the recording's ``probe_error``, a failed call):

- 0 bytes: ``recording is empty (0 bytes)``.
- Text under an audio extension (notes, an HTML error page saved as ``.wav``):
  ``unreadable audio: the file holds text, not audio``. FFmpeg alone is not enough here:
  its FLAC and raw AAC demuxers "open" text and report 0 s or a 0 Hz stream.
- A stream without a sample rate or channels (garbage that happened to sync):
  ``unreadable audio``.
- A truncated WAV (its header promises more audio than the file holds): **failed**,
  ``recording is truncated: ...``, with ``duration_s`` set to what the file really holds.
  Not transcribed as a partial call, because the usual cause is a copy still in flight or
  cut off: a call completed from a partial file would never be transcribed again once
  the full file lands (completed calls are skipped), while a failed one is retried by
  the next run. A file that is cut for good keeps failing with this reason until its
  header is repaired (e.g. ``ffmpeg -i in.wav -c copy out.wav``).
- 3+ channels: reported as they are (``channels`` = the real count). Such a recording is
  transcribed with channel diarization like stereo (``Recording.diarization``: 2+
  channels), one party per channel: ``ch0`` is the agent and every other channel a
  customer (``callmine.roles``). Nothing is mixed away: a mono mix-down would merge
  parties the recorder kept apart, and keeping only channels 0/1 would drop the others.
- Any sample rate (8 kHz telephony, 48 kHz softphones): duration comes from the header.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import IO

import av

# Enough for any real WAV's chunks before ``data`` (fmt, fact, LIST, BWF bext...).
_HEAD_BYTES = 64 * 1024
# WAV writers round their sizes; less than this much missing audio is not truncation.
_TRUNCATION_TOLERANCE_S = 0.1
# A streaming WAV writer that never patched its header leaves the size unknown.
_UNKNOWN_WAV_SIZES = frozenset({0, 0xFFFFFFFF})


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


def _head_and_size(source: str | IO[bytes]) -> tuple[bytes, int | None]:
    """The first bytes and the total size, leaving a file object where it was (FFmpeg reads it next)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            return handle.read(_HEAD_BYTES), os.fstat(handle.fileno()).st_size
    try:
        if not source.seekable():
            return b"", None  # a stream: reading ahead would eat what FFmpeg needs
        start = source.tell()
        head = source.read(_HEAD_BYTES)
        source.seek(0, io.SEEK_END)
        size = source.tell()
        source.seek(start)
    except (OSError, ValueError, AttributeError):
        return b"", None
    return head, size


_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v")


def _is_text(head: bytes) -> bool:
    """UTF-8 text with no control bytes: no audio container starts like that.

    AMR is the one format whose magic (``#!AMR``) is text; its frames are not.
    """
    sample = head[:1024]
    if not sample or sample.startswith(b"#!AMR"):
        return False
    if any(b < 0x20 and b not in _TEXT_CONTROLS for b in sample) or b"\x7f" in sample:
        return False
    for cut in range(4):  # the sample may end inside a multi-byte character
        try:
            sample[: len(sample) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


def _wav_truncation(head: bytes, size: int | None) -> tuple[float, float] | None:
    """(promised, held) seconds when a RIFF/WAVE header promises more audio than the file holds."""
    if size is None or len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        chunk, length = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt " and body + 12 <= len(head):
            byte_rate = int.from_bytes(head[body + 8 : body + 12], "little")
        elif chunk == b"data":
            if byte_rate <= 0 or length in _UNKNOWN_WAV_SIZES:
                return None
            missing = body + length - size
            if missing <= byte_rate * _TRUNCATION_TOLERANCE_S:
                return None
            return length / byte_rate, max(0, size - body) / byte_rate
        pos = body + length + (length & 1)  # chunks are word-aligned
    return None


def probe_audio(source: str | IO[bytes]) -> ProbeResult:
    """Never raises for bad media: an unreadable recording is a result with ``error`` set.

    ``source`` is a path or a seekable binary file object (an fsspec file), read from the start.
    """
    try:
        head, size = _head_and_size(source)
    except OSError as exc:
        return ProbeResult(error=f"cannot read recording: {exc}")
    if size == 0:
        return ProbeResult(error="recording is empty (0 bytes)")
    if _is_text(head):
        return ProbeResult(error="unreadable audio: the file holds text, not audio")
    try:
        # metadata_errors="ignore": a tag in a legacy code page must not make good audio "unreadable".
        with av.open(source, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                return ProbeResult(error="no audio stream in the file")
            stream = container.streams.audio[0]
            ctx = stream.codec_context
            channels = ctx.layout.nb_channels if ctx.layout else ctx.channels
            if not channels or not ctx.sample_rate:
                # Garbage can sync a demuxer (raw AAC) yet never yields a real stream.
                return ProbeResult(codec=ctx.name, error="unreadable audio: no valid audio stream (0 Hz or 0 channels)")
            if container.duration is not None:
                duration = container.duration / av.time_base
            elif stream.duration is not None and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = _duration_from_packets(container, stream)
            truncated = _wav_truncation(head, size)
            if truncated:
                promised, held = truncated
                return ProbeResult(
                    duration_s=round(held, 3) or None, channels=channels, codec=ctx.name, sample_rate=ctx.sample_rate,
                    error=f"recording is truncated: its WAV header promises {promised:.1f} s of audio but the file "
                          f"holds {held:.1f} s (a copy still in progress or cut off?)",
                )
            if not duration or duration <= 0:
                return ProbeResult(channels=channels, codec=ctx.name, sample_rate=ctx.sample_rate,
                                   error="recording is empty (0 s of audio)")
            return ProbeResult(duration_s=round(duration, 3), channels=channels, codec=ctx.name,
                               sample_rate=ctx.sample_rate)
    except av.error.FFmpegError as exc:
        # strerror is FFmpeg's own sentence; str(exc) adds an errno and the file name.
        return ProbeResult(error=f"unreadable audio: {exc.strerror or exc}")
    except (ValueError, OSError, EOFError) as exc:
        return ProbeResult(error=f"unreadable audio: {exc}")
