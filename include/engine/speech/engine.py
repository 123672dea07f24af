"""The facade the HTTP service calls from its worker process: file + options -> result."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .audio import SAMPLE_RATE, duration_seconds, load_audio, to_mono
from .document import Mode, build_document
from .models import resolve_model
from .options import JobOptions
from .speakers import PartyWord, assign_speakers, group_segments
from .stereo import transcribe_channels
from .subtitles import render
from .transcriber import DecodeSettings, Transcriber


@dataclass
class EngineResult:
    document: dict[str, Any]
    subtitles: dict[str, str]  # "srt"/"vtt" -> body, only for requested formats


class DiarizationUnavailable(RuntimeError):
    """diarize=True but include.engine.speech.diarization cannot be imported."""


# Loading a model takes seconds and ~100-300 MB: once per worker process.
_TRANSCRIBERS: dict[str, Transcriber] = {}
_LOCK = threading.Lock()


def get_transcriber(model: str = "tiny.en") -> Transcriber:
    with _LOCK:
        transcriber = _TRANSCRIBERS.get(model)
        if transcriber is None:
            transcriber = Transcriber(resolve_model(model), settings=DecodeSettings())
            _TRANSCRIBERS[model] = transcriber
        return transcriber


def transcribe_file(path: str, options: JobOptions) -> EngineResult:
    """Transcribe (and attribute) one recording. Raises AudioError for undecodable audio."""
    if options.channel and options.diarize:
        raise ValueError("channel and diarize are mutually exclusive: channel for stereo, diarize for mono")
    samples = load_audio(path)  # validate the audio before paying for a model load
    transcriber = get_transcriber(options.model)

    mode: Mode
    if options.channel:
        mode = "channel"
        words, language = transcribe_channels(transcriber, samples, options.language)
    else:
        mono = to_mono(samples)
        transcript = transcriber.transcribe(mono, language=options.language)
        language = transcript.language
        if options.diarize:
            mode = "diarize"
            words = assign_speakers(transcript.words, _diarize(mono, options.speakers) if transcript.words else [])
        else:
            mode = "plain"
            words = [PartyWord(word, None) for word in transcript.words]

    segments = group_segments(words)
    document = build_document(
        words, segments, audio_seconds=duration_seconds(samples), mode=mode, language=language
    )
    return EngineResult(document=document, subtitles=render(document["segments"], options.output_formats))


def _diarize(mono: np.ndarray, speakers: int) -> list[Any]:
    try:
        # Imported lazily: diarization is optional and heavier than transcription.
        from include.engine.speech.diarization import diarize
    except ImportError as exc:
        raise DiarizationUnavailable(f"speaker diarization is not available: {exc}") from exc
    return list(diarize(mono, sample_rate=SAMPLE_RATE, speakers=speakers))
