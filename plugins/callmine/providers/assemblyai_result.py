"""AssemblyAI transcript object -> canonical ``Transcript``.

The object (v2, the public API reference): ``status``, ``error``, ``text``,
``audio_duration`` (seconds), ``words[]`` of ``{text, start, end, confidence, speaker,
channel}`` and ``utterances[]`` of ``{start, end, text, speaker, channel, words}``, times
in **milliseconds**. Speakers are ``"A"``, ``"B"``... with ``speaker_labels``; with
``multichannel`` the channel is a string from ``"1"`` and ``speaker`` carries it too.
Utterances are absent (null) without either option.

Decoded straight into typed msgspec structs, as for PyAI: a day is millions of words.
"""

from __future__ import annotations

import msgspec

from callmine.transcript import (
    Diarization, Segments, Transcript, TranscriptError, build_transcript, channel_speaker, model_speaker,
)

# A pause this long ends a segment when there are no utterances (no diarization).
_PAUSE_MS = 1500
_SENTENCE_END = (".", "?", "!")


class AAIWord(msgspec.Struct, gc=False):
    start: float
    end: float
    text: str = ""
    confidence: float | None = None
    speaker: str | None = None
    channel: str | int | None = None


class AAIUtterance(msgspec.Struct, gc=False):
    start: float
    end: float
    text: str = ""
    speaker: str | None = None
    channel: str | int | None = None
    confidence: float | None = None


class AAITranscript(msgspec.Struct):
    id: str
    status: str = "queued"
    error: str | None = None
    text: str | None = None
    audio_duration: float | None = None
    multichannel: bool | None = None
    audio_channels: int | None = None
    words: list[AAIWord] | None = None
    utterances: list[AAIUtterance] | None = None


class AAIStatus(msgspec.Struct):
    """Just what a poll needs; msgspec skips the rest of a large completed object cheaply."""

    id: str
    status: str = "queued"
    error: str | None = None


_TRANSCRIPT = msgspec.json.Decoder(AAITranscript)
_STATUS = msgspec.json.Decoder(AAIStatus)


def decode_transcript(payload: bytes) -> AAITranscript:
    """Raises ``msgspec.ValidationError`` (naming the field) on a malformed object."""
    return _TRANSCRIPT.decode(payload)


def decode_status(payload: bytes) -> AAIStatus:
    return _STATUS.decode(payload)


def _channel_number(channel: str | int | None, speaker: str | None) -> int | None:
    """Multichannel numbers channels from 1; ``speaker`` holds it too when ``channel`` is missing."""
    value = channel if channel is not None else speaker
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _Speakers:
    """Provider labels -> canonical keys, numbered in order of first appearance."""

    def __init__(self, channels: bool) -> None:
        self.channels = channels
        self.keys: dict[str, str] = {}  # original -> canonical

    def key(self, label: str | None, channel: int | None) -> str | None:
        if self.channels:
            if channel is None or channel < 1:
                raise TranscriptError(f"multichannel transcript has an item without a valid channel ({label!r})")
            return self.keys.setdefault(str(channel), channel_speaker(channel - 1))
        if label is None:
            return None
        return self.keys.setdefault(label, model_speaker(len(self.keys)))

    def originals(self) -> dict[str, str]:
        return {key: label for label, key in self.keys.items()}


def _chunks(words: list[AAIWord]) -> list[tuple[int, int]]:
    """Sentence-ish [i, j) word ranges for a transcript without utterances."""
    ranges: list[tuple[int, int]] = []
    first = 0
    for i, word in enumerate(words):
        last = i + 1 == len(words)
        pause = not last and words[i + 1].start - word.end >= _PAUSE_MS
        if last or pause or word.text.endswith(_SENTENCE_END):
            ranges.append((first, i + 1))
            first = i + 1
    return ranges


def _word_speaker(speakers: _Speakers, word: AAIWord) -> str | None:
    """The word's canonical speaker; None (inherit its segment's) when the word does not say."""
    if not speakers.channels:
        return speakers.key(word.speaker, None)
    number = _channel_number(word.channel, word.speaker)
    return speakers.key(word.speaker, number) if number is not None else None


def normalize_assemblyai(doc: AAITranscript, diarization: Diarization, duration_s: float | None = None) -> Transcript:
    words = doc.words or []
    utterances = doc.utterances or []
    channels = bool(doc.multichannel) or any(u.channel is not None for u in utterances) \
        or any(w.channel is not None for w in words[:1])
    speakers = _Speakers(channels)
    segments = Segments()
    if utterances:
        for u in sorted(utterances, key=lambda u: u.start):
            number = _channel_number(u.channel, u.speaker) if channels else None
            segments.start.append(u.start / 1000)
            segments.end.append(u.end / 1000)
            segments.text.append(u.text.strip())
            segments.speaker.append(speakers.key(u.speaker, number) or "speaker_0")  # unlabeled: one speaker
            segments.channel.append(number - 1 if number is not None else None)
    else:  # no diarization: one speaker, segments cut at sentence ends and long pauses
        for i, j in _chunks(words):
            segments.start.append(words[i].start / 1000)
            segments.end.append(words[j - 1].end / 1000)
            segments.text.append(" ".join(w.text for w in words[i:j]))
            segments.speaker.append("speaker_0")
            segments.channel.append(None)
    word_speaker = [_word_speaker(speakers, w) for w in words] if utterances else [None] * len(words)
    # audio_duration is whole seconds in practice (rounded), so the bound allows that rounding.
    # The recording's probed length wins when known.
    bound = duration_s or (float(doc.audio_duration) + 1.0 if doc.audio_duration else None)
    return build_transcript(
        diarization=diarization,
        segments=segments,
        word_start=[w.start / 1000 for w in words],
        word_end=[w.end / 1000 for w in words],
        word_text=[w.text for w in words],
        word_speaker=word_speaker,
        word_confidence=[w.confidence for w in words],
        speaker_labels=speakers.originals(),
        text=doc.text,
        audio_seconds=doc.audio_duration,
        duration_s=bound,
    )
