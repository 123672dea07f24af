"""resemblyzer's encoder frontend in numpy (librosa is deliberately not a dependency).

resemblyzer's `wav_to_mel_spectrogram` is
``librosa.feature.melspectrogram(y, sr=16000, n_fft=400, hop_length=160, n_mels=40)``
transposed to (frames, 40) float32 -- a *power* mel spectrogram, not log-mel. librosa
defaults at the time resemblyzer was trained (0.6-0.8): centered STFT with **reflect**
padding (librosa 0.10 switched the default to "constant"; the encoder never saw that),
periodic Hann window, Slaney mel scale (htk=False), Slaney area normalization, fmin=0,
fmax=sr/2.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms: one mel frame per 10 ms, also the diarizer's time grid
N_MELS = 40
AUDIO_NORM_TARGET_DBFS = -30.0  # resemblyzer's `audio_norm_target_dBFS`
_INT16_MAX = 2**15 - 1


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney: linear below 1 kHz, logarithmic above (librosa.hz_to_mel, htk=False).
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = hz / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_part = hz >= min_log_hz
    mels = np.where(log_part, min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep, mels)
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), freqs)


@lru_cache(maxsize=4)
def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) float32, identical in construction to librosa.filters.mel."""
    fftfreqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]  # Slaney: constant area per band
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _hann(n: int = N_FFT) -> np.ndarray:
    # Periodic Hann (scipy.signal.get_window("hann", n, fftbins=True)), as librosa uses.
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float64)


def normalize_volume(wav: np.ndarray, reference: np.ndarray | None = None,
                     target_dbfs: float = AUDIO_NORM_TARGET_DBFS) -> np.ndarray:
    """resemblyzer's `normalize_volume(..., increase_only=True)`.

    The mel input is linear power, so the encoder is level sensitive; it was trained on
    audio brought up to -30 dBFS. `reference` (e.g. only the speech samples) sets the
    measured level, so long silences in a call don't inflate the gain.
    """
    ref = wav if reference is None else reference
    if ref.size == 0:
        return wav
    rms = float(np.sqrt(np.mean((ref.astype(np.float64) * _INT16_MAX) ** 2)))
    if rms == 0.0:
        return wav
    change = target_dbfs - 20 * np.log10(rms / _INT16_MAX)
    if change < 0:
        return wav
    return (wav * (10 ** (change / 20))).astype(np.float32)


def mel_spectrogram(wav: np.ndarray) -> np.ndarray:
    """16 kHz float waveform -> (1 + len // 160, 40) float32 power mel spectrogram."""
    wav = np.asarray(wav, dtype=np.float32)
    pad = N_FFT // 2
    if wav.size <= pad:
        # reflect padding needs more samples than the pad; librosa would raise here too.
        wav = np.pad(wav, (0, pad + 1 - wav.size))
    padded = np.pad(wav, pad, mode="reflect").astype(np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    basis = mel_filterbank().T.astype(np.float64)
    out = np.empty((frames.shape[0], N_MELS), dtype=np.float32)
    # Blocks keep the float64 FFT buffer small (~60 MB) on hour-long calls.
    block = 20000
    for start in range(0, frames.shape[0], block):
        spec = np.fft.rfft(frames[start:start + block] * _hann(), axis=1)
        out[start:start + block] = (spec.real**2 + spec.imag**2) @ basis
    return out
