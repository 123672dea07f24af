"""Channel mode: one party per channel, so attribution is exact by construction.

Two strategies:

* ``single_pass`` (default): Silero VAD on each channel, the speech chunks of both
  channels ordered by start time and spliced into ONE track (see
  ``SINGLE_PASS_GAP_S``), decoded once without VAD, and every word mapped back to
  its chunk's channel and original time. Each chunk comes from a single channel, so
  crosstalk stays separated and attribution stays exact. One decode instead of one
  per channel fills the 30 s windows (two channels of ~23 s speech: 2 windows either
  way, but fewer padded frames and one pass of per-call overhead); measured +11-18%
  real-time factor on the stereo sample calls with tiny.en on 2 cores.
* per channel: each channel decoded on its own (faster-whisper's own VAD inside).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

import numpy as np

from .audio import SAMPLE_RATE
from .speakers import PartyWord, by_time
from .transcriber import Transcriber, Word

# Zeros between spliced chunks. 0 = back to back, as faster-whisper's own VAD path does
# (the chunks already carry 400 ms of padding). Measured on billing-refund (tiny.en):
# gaps of 0.2-0.6 s sent greedy decoding into a "no, no, no" loop (WER 0.56-1.2);
# 0 s gave WER 0.31 / 0.41 on the two stereo calls.
SINGLE_PASS_GAP_S = 0.0


@dataclass(frozen=True, slots=True)
class SpeechChunk:
    channel: int
    start: int  # samples, in the original channel
    end: int
    offset: int  # samples, where the chunk starts in the spliced track


def transcribe_channels(
    transcriber: Transcriber,
    samples: np.ndarray,
    language: str | None = None,
    *,
    single_pass: bool = True,
) -> tuple[list[PartyWord], str]:
    """Words of every channel of ``samples`` (channels, n), tagged with their channel
    number and merged in time order; plus the language of the first channel that spoke."""
    if samples.ndim == 1:
        samples = samples[np.newaxis, :]  # mono in channel mode: a single channel 0
    if single_pass:
        return _transcribe_spliced(transcriber, samples, language)
    words: list[PartyWord] = []
    detected: str | None = None
    for channel, signal in enumerate(samples):
        transcript = transcriber.transcribe(signal, language=language)
        if transcript.words and detected is None:
            detected = transcript.language
        words.extend(PartyWord(word, channel) for word in transcript.words)
    return by_time(words), detected or (language or "en")


def speech_chunks(samples: np.ndarray) -> list[tuple[int, int, int]]:
    """(channel, start, end) sample ranges of speech in every channel, ordered by start.

    The same Silero VAD with the same defaults as ``WhisperModel.transcribe(vad_filter=True)``."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = []
    for channel, signal in enumerate(samples):
        signal = np.ascontiguousarray(signal, dtype=np.float32)
        for stamp in get_speech_timestamps(signal, VadOptions(), sampling_rate=SAMPLE_RATE):
            found.append((channel, int(stamp["start"]), int(stamp["end"])))
    found.sort(key=lambda item: (item[1], item[0]))
    return found


def splice(
    samples: np.ndarray, ranges: list[tuple[int, int, int]], gap_s: float = SINGLE_PASS_GAP_S
) -> tuple[np.ndarray, list[SpeechChunk]]:
    """One track of the ``ranges`` of ``samples`` back to back, ``gap_s`` of zeros between."""
    gap = np.zeros(int(round(gap_s * SAMPLE_RATE)), dtype=np.float32)
    pieces: list[np.ndarray] = []
    chunks: list[SpeechChunk] = []
    offset = 0
    for index, (channel, start, end) in enumerate(ranges):
        if index:
            pieces.append(gap)
            offset += gap.size
        pieces.append(np.asarray(samples[channel, start:end], dtype=np.float32))
        chunks.append(SpeechChunk(channel, start, end, offset))
        offset += end - start
    track = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    return track, chunks


def restore(word: Word, chunks: list[SpeechChunk], offsets: list[int] | None = None) -> PartyWord:
    """``word`` (spliced-track time) as its chunk's channel and original time.

    The chunk is the one holding the word's midpoint (a midpoint in a gap goes to the
    nearer chunk); times are clamped to that chunk."""
    if offsets is None:
        offsets = [chunk.offset for chunk in chunks]
    middle = (word.start + word.end) / 2 * SAMPLE_RATE
    index = max(bisect.bisect_right(offsets, middle) - 1, 0)
    if index + 1 < len(chunks):
        current, following = chunks[index], chunks[index + 1]
        after_current = middle - (current.offset + current.end - current.start)
        if after_current > 0 and following.offset - middle < after_current:
            index += 1  # in the gap, nearer the next chunk
    chunk = chunks[index]
    shift = chunk.start - chunk.offset

    def original(t: float) -> float:
        sample = min(max(t * SAMPLE_RATE + shift, chunk.start), chunk.end)
        return round(sample / SAMPLE_RATE, 3)

    start, end = original(word.start), original(word.end)
    return PartyWord(replace(word, start=start, end=max(end, start)), chunk.channel)


def _transcribe_spliced(
    transcriber: Transcriber, samples: np.ndarray, language: str | None
) -> tuple[list[PartyWord], str]:
    ranges = speech_chunks(samples)
    if not ranges:
        return [], language or "en"
    track, chunks = splice(samples, ranges, SINGLE_PASS_GAP_S)
    transcript = transcriber.transcribe(track, language=language, vad_filter=False)
    offsets = [chunk.offset for chunk in chunks]
    words = [restore(word, chunks, offsets) for word in transcript.words]
    return by_time(words), transcript.language if words else (language or "en")
