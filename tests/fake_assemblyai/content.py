"""Deterministic transcript content: the same request always gets the same words.

Lines come from a small call-centre phrase list, alternating between parties; times are
integer milliseconds like the real service. With ``speaker_labels`` the parties are
``"A"``, ``"B"``...; with ``multichannel`` they are channels ``"1"``, ``"2"`` (strings,
and ``speaker`` carries the channel too); otherwise ``speaker`` is null and there are no
utterances.
"""

from __future__ import annotations

import hashlib
import io
import math
import string
import wave
from typing import Any

from .config import FakeAssemblyAIConfig

PHRASES = (
    "Thank you for calling Northwind support, how can I help you today?",
    "Hi, I am calling about a charge on my last bill.",
    "Of course. Can I have your account number, please?",
    "Sure, it is four five six seven eight.",
    "Thanks. I can see an extra charge of twenty dollars.",
    "Yes, that is the one I do not recognise.",
    "I have removed it; the credit shows up in two days.",
    "Great, thank you so much for your help.",
    "Is there anything else I can do for you?",
    "No, that is all. Have a nice day.",
)


def wav_seconds(content: bytes | None) -> float | None:
    """Duration of WAV bytes; None for anything else (the fake accepts other formats blindly)."""
    if not content or not content.startswith(b"RIFF"):
        return None
    try:
        with wave.open(io.BytesIO(content)) as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


def _parties(body: dict[str, Any], config: FakeAssemblyAIConfig) -> list[str] | None:
    if body.get("multichannel"):
        return ["1", "2"]
    if body.get("speaker_labels"):
        n = int(body.get("speakers_expected") or config.default_speakers)
        return list(string.ascii_uppercase[: max(1, min(n, 26))])
    return None


def generate(body: dict[str, Any], config: FakeAssemblyAIConfig, seconds: float | None) -> dict[str, Any]:
    """``text``, ``words``, ``utterances``, ``audio_duration`` (and ``audio_channels``) for a request."""
    seed = int(hashlib.sha256(str(body.get("audio_url")).encode()).hexdigest(), 16)
    parties = _parties(body, config)
    multichannel = bool(body.get("multichannel"))
    raw: list[tuple[str, list[list[Any]]]] = []  # (party, [[text, start ms, end ms], ...])
    limit_ms = seconds * 950 if seconds is not None else None  # words end inside the audio
    t = 400
    for n in range(max(1, config.lines)):
        phrase = PHRASES[(seed + n) % len(PHRASES)]
        party = parties[n % len(parties)] if parties else ""
        if multichannel and n:
            t = max(0, t - config.turn_gap_ms - config.overlap_ms)  # cross-talk on a stereo call
        timed = []
        for token in phrase.split():
            end = t + config.word_ms + 15 * len(token)
            timed.append([token, t, end])
            t = end + config.gap_ms
        if raw and limit_ms is not None and timed[-1][2] > limit_ms:
            break  # a short recording gets fewer lines
        raw.append((party, timed))
        t += config.turn_gap_ms
    natural_end = max(w[2] for _, timed in raw for w in timed)
    # Only a recording too short for even one line squeezes it.
    scale = limit_ms / natural_end if limit_ms is not None and natural_end > limit_ms else 1.0
    words: list[dict[str, Any]] = []
    utterances: list[dict[str, Any]] = []
    for n, (party, timed) in enumerate(raw):
        line_words = []
        for i, (token, start, end) in enumerate(timed):
            line_words.append({
                "text": token, "start": int(start * scale), "end": int(end * scale),
                "confidence": round(0.9 + ((seed >> (n + i)) % 10) / 100, 5),
                "speaker": party or None,
                **({"channel": party} if multichannel else {}),
            })
        words.extend(line_words)
        if parties:
            utterances.append({
                "confidence": round(sum(w["confidence"] for w in line_words) / len(line_words), 5),
                "start": line_words[0]["start"], "end": line_words[-1]["end"],
                "text": " ".join(w["text"] for w in line_words), "speaker": party,
                **({"channel": party} if multichannel else {}), "words": line_words,
            })
    words.sort(key=lambda w: w["start"])
    duration = seconds if seconds is not None else math.ceil(words[-1]["end"] / 1000)
    doc: dict[str, Any] = {
        "text": " ".join(" ".join(w[0] for w in timed) for _, timed in raw),
        "words": words,
        "utterances": utterances or None,
        "confidence": round(sum(w["confidence"] for w in words) / len(words), 5),
        "audio_duration": round(duration),  # whole seconds, as the live API answers
    }
    if multichannel:
        doc["audio_channels"] = 2
    return doc


def _stamp(ms: int, sep: str) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, milli = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{milli:03d}"


def captions(doc: dict[str, Any], chars_per_caption: int | None) -> list[tuple[int, int, str]]:
    """(start ms, end ms, text) cues: one per utterance (or sentence), split at ``chars_per_caption``."""
    cues: list[tuple[int, int, str]] = []
    current: list[dict[str, Any]] = []

    def flush() -> None:
        if current:
            cues.append((current[0]["start"], current[-1]["end"], " ".join(w["text"] for w in current)))
            current.clear()

    groups = [u["words"] for u in doc["utterances"]] if doc.get("utterances") else [doc.get("words") or []]
    for group in groups:
        for word in group:
            text_len = len(" ".join(w["text"] for w in [*current, word]))
            if current and chars_per_caption and text_len > chars_per_caption:
                flush()
            current.append(word)
            if not doc.get("utterances") and word["text"].endswith((".", "?", "!")):
                flush()
        flush()
    return sorted(cues)


def srt(doc: dict[str, Any], chars_per_caption: int | None = None) -> str:
    return "".join(f"{i}\n{_stamp(s, ',')} --> {_stamp(e, ',')}\n{text}\n\n"
                   for i, (s, e, text) in enumerate(captions(doc, chars_per_caption), start=1))


def vtt(doc: dict[str, Any], chars_per_caption: int | None = None) -> str:
    return "WEBVTT\n\n" + "".join(f"{_stamp(s, '.')} --> {_stamp(e, '.')}\n{text}\n\n"
                                  for s, e, text in captions(doc, chars_per_caption))
