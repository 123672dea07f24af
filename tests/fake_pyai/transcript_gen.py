"""Fabricated, deterministic transcripts that look like a real support/sales call.

The fake cannot transcribe, so it lays out turns over the real audio duration,
seeded by sha256(audio): the same recording always yields the same transcript.
Presentation choices the contract leaves open (word token key, confidence present
or not) vary per job id, so clients meet every legal shape.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

from .audio_probe import AudioInfo
from .config import FakeConfig
from .phrase_bank import lines_for, render
from .submission import JobOptions


@dataclass(frozen=True, slots=True)
class Turn:
    start: float
    end: float
    party: int  # speaker index, or channel number in channel mode
    text: str


@dataclass(frozen=True, slots=True)
class WordStyle:
    token_key: str  # "word" or "text": both legal per contract
    with_confidence: bool


def word_style_for(job_id: str, config: FakeConfig) -> WordStyle:
    bits = hashlib.sha256(job_id.encode()).digest()[0]
    token_key = config.word_token_key or ("word" if bits & 1 else "text")
    with_conf = config.word_confidence if config.word_confidence is not None else not bits & 2
    return WordStyle(token_key=token_key, with_confidence=with_conf)


def fabricate_result(
    audio_sha256: bytes,
    info: AudioInfo,
    options: JobOptions,
    style: WordStyle,
) -> dict[str, Any]:
    """The result document minus ``formats`` (URLs are signed at read time)."""
    rng = random.Random(int.from_bytes(audio_sha256, "big"))
    parties = max(1, info.channels) if options.channel else (options.speakers_expected or 2)
    turns = _layout_turns(rng, info.duration_s, parties, options.numerals)

    segments: list[dict[str, Any]] = []
    words: list[dict[str, Any]] = []
    for turn in turns:
        who = _who(turn.party, options)
        segments.append({"start": turn.start, "end": turn.end, "text": turn.text, **who})
        words.extend(_words(rng, turn, who, style))

    return {
        "text": " ".join(turn.text for turn in turns),
        "language": options.language or "en-US",
        "audio_seconds": round(info.duration_s, 2),
        "speakers": _speaker_count(turns, options),
        "segments": segments,
        "words": words,
    }


def _who(party: int, options: JobOptions) -> dict[str, Any]:
    if options.channel:
        return {"channel": party}
    if options.diarize:
        return {"speaker": f"speaker_{party}"}
    return {}


def _speaker_count(turns: list[Turn], options: JobOptions) -> int:
    if not turns:
        return 0
    if options.channel or options.diarize:
        return len({turn.party for turn in turns})
    return 1  # no diarization: one undifferentiated voice stream


def _layout_turns(rng: random.Random, duration: float, parties: int, numerals: bool) -> list[Turn]:
    turns: list[Turn] = []
    t = min(rng.uniform(0.1, 0.6), duration * 0.1)
    party = 0
    while True:
        remaining = duration - t
        # Always emit at least one turn for any audible recording.
        if remaining < (0.05 if not turns else 0.5):
            break
        length = min(rng.uniform(2.0, 8.0), remaining - 0.02)
        if turns and length < 0.4:
            break
        end = t + length
        turns.append(Turn(round(t, 3), round(end, 3), party, _turn_text(rng, party, length, numerals)))
        party = _next_party(rng, party, parties)
        if length > 1.5 and rng.random() < 0.1:
            t = end - rng.uniform(0.4, 1.0)  # interruption: next turn starts before this ends
        else:
            t = end + rng.uniform(0.2, 1.5)
    return turns


def _next_party(rng: random.Random, party: int, parties: int) -> int:
    if parties <= 1:
        return 0
    if parties == 2:
        return 1 - party
    return rng.choice([p for p in range(parties) if p != party])


def _turn_text(rng: random.Random, party: int, length: float, numerals: bool) -> str:
    target = max(2, round(length * rng.uniform(2.0, 3.0)))  # ~2-3 spoken words per second
    lines = lines_for(party)
    chosen: list[str] = []
    count = 0
    while count < target:
        room = target - count
        fitting = [line for line in lines if len(line.split()) <= room + 4]
        line = render(rng.choice(fitting or lines), numerals)
        chosen.append(line)
        count += len(line.split())
    return " ".join(chosen)


def _words(rng: random.Random, turn: Turn, who: dict[str, Any], style: WordStyle) -> list[dict[str, Any]]:
    tokens = turn.text.split()
    step = (turn.end - turn.start) / len(tokens)
    out = []
    for index, token in enumerate(tokens):
        start = turn.start + index * step
        word: dict[str, Any] = {
            "start": round(start, 3),
            "end": round(start + step * 0.85, 3),  # small pause between words
            style.token_key: token,
            **who,
        }
        if style.with_confidence:
            word["confidence"] = round(rng.uniform(0.80, 0.99), 3)
        out.append(word)
    return out
