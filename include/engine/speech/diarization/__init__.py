"""Mono speaker diarization without torch: Silero VAD -> GE2E embeddings -> Ward.

Pipeline (all numpy apart from the VAD's onnxruntime):
  resample to 16 kHz -> Silero VAD regions -> 1.5 s / 0.75 s windows inside speech ->
  resemblyzer GE2E encoder (numpy LSTM) -> Ward clustering to a configured speaker count
  (+ k-means polish) -> per-frame (10 ms) majority vote of overlapping windows ->
  turns; turns < 0.3 s merged into a neighbour; speakers numbered by first appearance.

Needs `faster-whisper` (VAD) and `resemblyzer==0.1.4` installed with `--no-deps` (weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blas import single_threaded_blas
from .cluster import cluster_embeddings
from .ge2e import VoiceEncoder
from .mel import HOP, SAMPLE_RATE, mel_spectrogram, normalize_volume
from .resample import resample
from .segmentation import Window, speech_regions, windows_for_regions

__all__ = ["SpeakerTurn", "diarize", "DEFAULT_SPEAKERS", "MIN_TURN_S"]

DEFAULT_SPEAKERS = 2
MIN_TURN_S = 0.3  # shorter turns are almost always label noise at window edges
MERGE_GAP_S = 0.5  # same speaker again after a pause this short continues the turn
_FRAME_S = HOP / SAMPLE_RATE  # 10 ms


@dataclass(frozen=True)
class SpeakerTurn:
    start: float  # seconds
    end: float  # seconds
    speaker: int  # 0 = first to speak


def diarize(samples: np.ndarray, sample_rate: int = SAMPLE_RATE,
            speakers: int = DEFAULT_SPEAKERS) -> list[SpeakerTurn]:
    """Who spoke when in a mono recording. `samples`: float in [-1, 1] (int16 is scaled)."""
    if speakers < 1:
        raise ValueError("speakers must be >= 1")
    audio = _as_float_mono(samples)
    if sample_rate != SAMPLE_RATE:
        audio = resample(audio, sample_rate, SAMPLE_RATE)
    if audio.size == 0 or not np.any(audio):
        return []
    regions = speech_regions(audio)
    if not regions:
        return []

    speech_mask = np.zeros(1 + audio.size // HOP, dtype=bool)
    for start, end in regions:
        speech_mask[start:end] = True
    # Level reference = speech only, so the silence share of a call does not change gain.
    speech_samples = audio[np.repeat(speech_mask, HOP)[: audio.size]]
    with single_threaded_blas():  # see blas.py: robust under CPU contention
        mel = mel_spectrogram(normalize_volume(audio, reference=speech_samples))
        windows = windows_for_regions(regions, mel.shape[0])
        if len(windows) < max(speakers, 2):
            labels = np.zeros(len(windows), dtype=np.int64)
        else:
            labels = cluster_embeddings(_embed(mel, windows), speakers)
    frame_labels = _vote(windows, labels, speech_mask, speakers)
    return _turns(frame_labels)


def _as_float_mono(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim == 2:
        # Accept (n, channels) or (channels, n): a mono-mix is the only sensible reading.
        x = x.mean(axis=0 if x.shape[0] < x.shape[1] else 1)
    if x.ndim != 1:
        raise ValueError(f"expected 1-D mono samples, got shape {x.shape}")
    if np.issubdtype(x.dtype, np.integer):
        return (x / float(np.iinfo(x.dtype).max)).astype(np.float32)
    return x.astype(np.float32, copy=False)


def _embed(mel: np.ndarray, windows: list[Window]) -> np.ndarray:
    encoder = VoiceEncoder()
    out = np.zeros((len(windows), 256), dtype=np.float32)
    # Batch equal-length windows together (almost all are WINDOW_FRAMES long).
    by_length: dict[int, list[int]] = {}
    for idx, w in enumerate(windows):
        by_length.setdefault(w.frames, []).append(idx)
    for frames, idxs in by_length.items():
        batch = np.stack([mel[windows[i].start:windows[i].start + frames] for i in idxs])
        out[idxs] = encoder.embed_windows(batch)
    return out


def _vote(windows: list[Window], labels: np.ndarray, speech_mask: np.ndarray,
          speakers: int) -> np.ndarray:
    """Per 10 ms frame: the label most overlapping windows voted for; -1 outside speech."""
    votes = np.zeros((speech_mask.size, max(speakers, 1)), dtype=np.float32)
    for w, label in zip(windows, labels):
        votes[w.start:w.start + w.frames, label] += 1.0
    frame_labels = np.argmax(votes, axis=1)
    frame_labels[~speech_mask | (votes.sum(axis=1) == 0)] = -1
    return frame_labels


def _runs(frame_labels: np.ndarray) -> list[list[int]]:
    """[[label, start_frame, end_frame), ...] of speech runs (silence dropped)."""
    change = np.flatnonzero(np.diff(frame_labels)) + 1
    bounds = np.concatenate([[0], change, [frame_labels.size]])
    return [[int(frame_labels[s]), int(s), int(e)]
            for s, e in zip(bounds[:-1], bounds[1:]) if frame_labels[s] >= 0]


def _merge(runs: list[list[int]], max_gap: int) -> list[list[int]]:
    merged: list[list[int]] = []
    for run in runs:
        if merged and merged[-1][0] == run[0] and run[1] - merged[-1][2] <= max_gap:
            merged[-1][2] = run[2]
        else:
            merged.append(list(run))
    return merged


def _turns(frame_labels: np.ndarray) -> list[SpeakerTurn]:
    max_gap = int(round(MERGE_GAP_S / _FRAME_S))
    min_len = int(round(MIN_TURN_S / _FRAME_S))
    runs = _merge(_runs(frame_labels), max_gap)
    # Absorb short runs into the closer neighbour that touches them (gap <= max_gap),
    # shortest first. Each step removes a run, so this terminates. An isolated short run
    # (silence on both sides) is a real short utterance ("Yes.") and is kept.
    while True:
        best: tuple[int, int] | None = None  # (length, index)
        for i, (_, start, end) in enumerate(runs):
            if end - start >= min_len:
                continue
            touches = (i > 0 and start - runs[i - 1][2] <= max_gap) or \
                      (i + 1 < len(runs) and runs[i + 1][1] - end <= max_gap)
            if touches and (best is None or end - start < best[0]):
                best = (end - start, i)
        if best is None:
            break
        i = best[1]
        gap_prev = runs[i][1] - runs[i - 1][2] if i > 0 else max_gap + 1
        gap_next = runs[i + 1][1] - runs[i][2] if i + 1 < len(runs) else max_gap + 1
        if gap_prev <= gap_next:
            runs[i - 1][2] = runs[i][2]
        else:
            runs[i + 1][1] = runs[i][1]
        del runs[i]
        runs = _merge(runs, max_gap)
    # Number speakers by first appearance.
    order: dict[int, int] = {}
    turns = []
    for label, start, end in runs:
        speaker = order.setdefault(label, len(order))
        turns.append(SpeakerTurn(round(start * _FRAME_S, 2), round(end * _FRAME_S, 2), speaker))
    return turns
