"""A deterministic stand-in for a recognizer: words where the audio has energy.

WAV uploads are read with the stdlib (any channel count, mixed down as a real service
does); speech is wherever 100 ms windows are loud, so silence gets no words and two
different channels get different timings. Word text comes from a phrase bank seeded by
the audio, so identical audio gets identical words.
"""

from __future__ import annotations

import hashlib
import io
import wave
from dataclasses import dataclass

import numpy as np

WINDOW_S = 0.1
WORD_S = 0.4
SEGMENT_GAP_S = 0.5
MAX_SEGMENT_WORDS = 8
PHRASES = (
    "thank you for calling how can I help you today",
    "I was charged twice for my order this month",
    "let me check your account for you",
    "the order number is four two seven",
    "I will refund the duplicate charge today",
    "great thank you for your help",
)


@dataclass(slots=True)
class Audio:
    channels: int | None
    sample_rate: int | None
    sample_width: int | None
    seconds: float
    pcm_sha256: str | None
    samples: np.ndarray | None  # (channels, n) float in [-1, 1], None when not WAV


def read_audio(content: bytes) -> Audio:
    try:
        with wave.open(io.BytesIO(content)) as wav:
            channels, rate, width = wav.getnchannels(), wav.getframerate(), wav.getsampwidth()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError):
        # Compressed formats: no decoder here, pretend 3 s of continuous speech.
        return Audio(None, None, None, 3.0, None, None)
    if width != 2:
        return Audio(channels, rate, width, len(frames) / (rate * channels * width), None, None)
    pcm = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).T.astype(np.float64) / 32768.0
    return Audio(channels, rate, width, pcm.shape[1] / rate, hashlib.sha256(frames).hexdigest(), pcm)


def _active_runs(audio: Audio) -> list[tuple[float, float, int]]:
    """(start, end, loudest channel) of each loud stretch."""
    if audio.samples is None:
        return [(0.0, audio.seconds, 0)]
    assert audio.sample_rate
    hop = max(1, int(audio.sample_rate * WINDOW_S))
    n = audio.samples.shape[1] // hop
    if n == 0:
        return []
    frames = audio.samples[:, : n * hop].reshape(audio.samples.shape[0], n, hop)
    rms = np.sqrt((frames**2).mean(axis=2))  # (channels, windows)
    loud = rms.max(axis=0) > 0.01
    runs, start = [], None
    for i, on in enumerate([*loud.tolist(), False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append((start * WINDOW_S, i * WINDOW_S, int(rms[:, start:i].mean(axis=1).argmax())))
            start = None
    return runs


def recognize(audio: Audio, content: bytes) -> tuple[list[dict], list[dict]]:
    """(words, segments): words ``{word, start, end}``, segments ``{start, end, text, party}``."""
    seed = int(hashlib.sha256(content).hexdigest()[:8], 16)
    bank = " ".join(PHRASES[(seed + i) % len(PHRASES)] for i in range(len(PHRASES))).split()
    words: list[dict] = []
    segments: list[dict] = []
    mono = audio.samples is None or audio.samples.shape[0] == 1
    for index, (start, end, party) in enumerate(_active_runs(audio)):
        party = index % 2 if mono else party  # mono "diarization": turns alternate
        count = max(1, int((end - start) / WORD_S))
        step = (end - start) / count
        run = [{"word": bank[(len(words) + i) % len(bank)], "start": round(start + i * step, 3),
                "end": round(start + (i + 1) * step, 3)} for i in range(count)]
        words.extend(run)
        for i in range(0, len(run), MAX_SEGMENT_WORDS):
            chunk = run[i : i + MAX_SEGMENT_WORDS]
            segments.append({"start": chunk[0]["start"], "end": chunk[-1]["end"],
                             "text": " ".join(w["word"] for w in chunk), "party": party})
    return words, segments
