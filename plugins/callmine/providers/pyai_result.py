"""PyAI Hear result document -> canonical ``Transcript``.

The document: ``text``, ``speakers``, ``audio_seconds``, ``segments[]`` of
``{start, end, text, speaker?, channel?}`` and ``words[]`` of ``{start, end, word|text,
speaker?, channel?, confidence?}`` (seconds), ``formats`` {srt|vtt: signed URL}.
Optional fields may be missing; the word token may be under ``word`` or ``text``.
"""

from __future__ import annotations

from typing import Any

from callmine.normalize import link_words, sort_segments
from callmine.transcript import Diarization, Segments, Transcript, channel_speaker, model_speaker


def _speaker_of(item: dict[str, Any]) -> str | None:
    channel = item.get("channel")
    if channel is not None:
        return channel_speaker(channel)
    label = item.get("speaker")
    if label is not None:
        return model_speaker(label)
    return None


def _original_label(item: dict[str, Any]) -> str | None:
    if item.get("channel") is not None:
        return str(item["channel"])
    label = item.get("speaker")
    return None if label is None else str(label)


def normalize_pyai_result(result: dict[str, Any], diarization: Diarization) -> Transcript:
    raw_segments = result.get("segments") or []
    raw_words = result.get("words") or []
    fallback = "speaker_0"
    originals: dict[str, str] = {}
    seg_speakers: list[str] = []
    for seg in raw_segments:
        key = _speaker_of(seg) or fallback
        seg_speakers.append(key)
        label = _original_label(seg)
        if label is not None:
            originals.setdefault(key, label)
    segments = sort_segments(
        Segments(
            start=[float(s["start"]) for s in raw_segments],
            end=[float(s["end"]) for s in raw_segments],
            text=[(s.get("text") or "").strip() for s in raw_segments],
            speaker=seg_speakers,
            channel=[s.get("channel") for s in raw_segments],
        )
    )
    words = link_words(
        segments,
        start=[w["start"] for w in raw_words],
        end=[w["end"] for w in raw_words],
        word=[w.get("word") or w.get("text") or "" for w in raw_words],
        speaker=[_speaker_of(w) for w in raw_words],
        confidence=[w.get("confidence") for w in raw_words],
    )
    text = result.get("text")
    if text is None:
        text = " ".join(segments.text)
    formats = result.get("formats") or {}
    audio_seconds = result.get("audio_seconds")
    return Transcript(
        text=text,
        diarization=diarization,
        segments=segments,
        words=words,
        audio_seconds=float(audio_seconds) if audio_seconds is not None else None,
        original_speakers=originals,
        subtitle_urls={fmt: url for fmt, url in formats.items() if fmt in ("srt", "vtt") and url},
    )
