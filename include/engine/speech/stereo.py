"""Channel mode: one party per channel, so attribution is exact by construction."""

from __future__ import annotations

import numpy as np

from .speakers import PartyWord, by_time
from .transcriber import Transcriber


def transcribe_channels(
    transcriber: Transcriber,
    samples: np.ndarray,
    language: str | None = None,
) -> tuple[list[PartyWord], str]:
    """Words of every channel of ``samples`` (channels, n), tagged with their channel
    number and merged in time order; plus the language of the first channel that spoke."""
    if samples.ndim == 1:
        samples = samples[np.newaxis, :]  # mono in channel mode: a single channel 0
    words: list[PartyWord] = []
    detected: str | None = None
    for channel, signal in enumerate(samples):
        transcript = transcriber.transcribe(signal, language=language)
        if transcript.words and detected is None:
            detected = transcript.language
        words.extend(PartyWord(word, channel) for word in transcript.words)
    return by_time(words), detected or (language or "en")
