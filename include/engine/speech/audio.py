"""Decode any audio file PyAV reads into float32 16 kHz samples, one row per channel."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16_000  # what Whisper and the Silero VAD expect


class AudioError(ValueError):
    """The file is not decodable audio: missing, no audio stream, corrupt or silent-empty."""


def load_audio(path: str | Path) -> np.ndarray:
    """Samples shaped (channels, samples), float32 in [-1, 1] at 16 kHz.

    Mono files give one row, stereo two (left, right). Files with more than two
    channels are folded to stereo by the resampler.
    """
    from faster_whisper.audio import decode_audio  # heavy import, keep it lazy

    channels = probe_channels(path)
    try:
        if channels >= 2:
            left, right = decode_audio(str(path), sampling_rate=SAMPLE_RATE, split_stereo=True)
            samples = np.stack([left, right])
        else:
            samples = decode_audio(str(path), sampling_rate=SAMPLE_RATE)[np.newaxis, :]
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioError(f"could not decode audio {Path(path).name}: {exc}") from exc
    # decode_audio silently skips undecodable frames, so corruption shows up as no samples.
    if samples.shape[1] == 0:
        raise AudioError(f"audio {Path(path).name} decoded to zero samples")
    return np.ascontiguousarray(samples, dtype=np.float32)


def probe_channels(path: str | Path) -> int:
    """Channel count of the first audio stream; AudioError when there is none."""
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"{Path(path).name} has no audio stream")
            channels = int(container.streams.audio[0].codec_context.channels or 0)
    except AudioError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioError(f"could not open audio {Path(path).name}: {exc}") from exc
    if channels <= 0:
        raise AudioError(f"{Path(path).name} reports no audio channels")
    return channels


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels: one signal for plain or diarized transcription."""
    if samples.ndim == 1:
        return samples
    return samples.mean(axis=0, dtype=np.float32) if samples.shape[0] > 1 else samples[0]


def duration_seconds(samples: np.ndarray) -> float:
    return samples.shape[-1] / SAMPLE_RATE
