"""Band-limited resampling to 16 kHz in numpy (no scipy/librosa in the engine).

Phone audio arrives at 8 kHz; both Silero VAD and the GE2E encoder expect 16 kHz. This
is a polyphase Kaiser-windowed sinc interpolator: for a rational ratio L/M only L
distinct fractional delays occur, so the filter taps are a small (L, taps) table and the
signal pass is `taps` vectorized multiply-adds (no big gather matrices).
"""

from __future__ import annotations

from math import gcd

import numpy as np

_HALF_TAPS = 16  # zero crossings each side of the sinc (at the lower of the two rates)
_KAISER_BETA = 8.6  # ~ -80 dB stopband, plenty for VAD and embeddings


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample a mono float signal; returns float32 of length round(n * target / source)."""
    x = np.asarray(samples, dtype=np.float32)
    if source_rate == target_rate or x.size == 0:
        return x.copy()
    g = gcd(int(source_rate), int(target_rate))
    up, down = int(target_rate) // g, int(source_rate) // g
    n_out = int(round(x.size * up / down))
    # When downsampling, low-pass at the target Nyquist: stretch the sinc accordingly.
    cutoff = min(1.0, up / down)
    half = int(np.ceil(_HALF_TAPS / cutoff))
    offsets = np.arange(-half + 1, half + 1)

    # Output n sits at input position n*down/up = base + phase/up.
    n = np.arange(n_out, dtype=np.int64)
    base = (n * down) // up
    phase = (n * down) % up
    dist = (np.arange(up)[:, None] / up) - offsets[None, :]  # (up, taps), in input samples
    arg = np.clip(1.0 - (dist / (half + 1)) ** 2, 0.0, None)
    kaiser = np.i0(_KAISER_BETA * np.sqrt(arg)) / np.i0(_KAISER_BETA)
    table = (cutoff * np.sinc(cutoff * dist) * kaiser).astype(np.float32)

    padded = np.pad(x, (half, half + 1))
    out = np.zeros(n_out, dtype=np.float32)
    for j, off in enumerate(offsets):
        out += padded[base + off + half] * table[phase, j]
    return out
