"""Small real audio files for tests: WAV written with the stdlib, speech-band noise bursts."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path: Path, seconds: float = 3.0, channels: int = 1, rate: int = 8000, seed: int = 0) -> Path:
    """Bursts of band-limited noise with pauses: decodable, non-silent, deterministic."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    frames = []
    for ch in range(channels):
        envelope = (np.sin(2 * np.pi * (0.4 + 0.2 * ch) * t + ch) > 0).astype(np.float64)
        tone = np.sin(2 * np.pi * (180 + 60 * ch) * t) + 0.3 * rng.standard_normal(n)
        frames.append((envelope * tone * 8000).astype("<i2"))
    data = np.stack(frames, axis=1).reshape(-1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(data.tobytes())
    return path


def write_truncated_wav(path: Path, seconds: float = 10.0, keep: float = 0.25, **kwargs: int) -> Path:
    """A WAV cut after ``keep`` of its bytes: the header still promises ``seconds`` of audio."""
    full = write_wav(path, seconds=seconds, **kwargs).read_bytes()
    path.write_bytes(full[: int(len(full) * keep)])
    return path
