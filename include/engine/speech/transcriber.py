"""One loaded faster-whisper model, turning 16 kHz mono samples into timed words."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before faster_whisper imports huggingface_hub

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CPU_THREADS_ENV = "CALLMINE_ENGINE_CPU_THREADS"
DEFAULT_CPU_THREADS = 2  # the engine container's budget; measured numbers assume it


@dataclass(frozen=True, slots=True)
class Word:
    start: float
    end: float
    text: str  # stripped, punctuation attached as Whisper writes it
    probability: float
    # Whisper wrote no space before this word ("pre" + "-come", "4" + "-2"): text
    # rebuilt from words must glue it to the previous one.
    attached: bool = False


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...]


@dataclass(frozen=True, slots=True)
class Transcript:
    words: list[Word]
    segments: list[Segment]
    language: str


@dataclass(frozen=True, slots=True)
class DecodeSettings:
    beam_size: int = 1  # tiny.en beam 1: ~19x real time on 2 cores, beam 5 only ~2 WER points better
    vad_filter: bool = True  # skips silence (half of a one-party channel) and curbs hallucinations
    # Calls are full of short turns and crosstalk; conditioning on earlier text
    # lets one misrecognition or a repetition loop spread to the next window.
    condition_on_previous_text: bool = False
    # Greedy only: on the sample calls faster-whisper's fallback ladder (0.2 .. 1.0,
    # sampling best-of-5) cost up to 45% more time for no WER gain; VAD plus no
    # conditioning already confine a bad window to itself.
    temperatures: tuple[float, ...] = (0.0,)


def default_cpu_threads() -> int:
    configured = os.environ.get(CPU_THREADS_ENV)
    return int(configured) if configured else DEFAULT_CPU_THREADS


class Transcriber:
    """Loads the model once; ``transcribe`` may be called many times (not concurrently)."""

    def __init__(
        self,
        model_dir: Path | str,
        *,
        cpu_threads: int | None = None,
        settings: DecodeSettings | None = None,
    ) -> None:
        from faster_whisper import WhisperModel

        self.model_dir = Path(model_dir)
        self.cpu_threads = cpu_threads or default_cpu_threads()
        self.settings = settings or DecodeSettings()
        # A directory path (never a hub name) keeps faster-whisper offline.
        self.model = WhisperModel(
            str(self.model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=self.cpu_threads,
        )

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def transcribe(
        self, samples: np.ndarray, language: str | None = None, *, vad_filter: bool | None = None
    ) -> Transcript:
        """Words and segments of float32 16 kHz mono ``samples``; timestamps in seconds.

        ``vad_filter`` overrides the settings' (False when the caller already cut speech out)."""
        if samples.ndim != 1:
            raise ValueError(f"expected mono samples, got shape {samples.shape}")
        language = self._language(language)
        kwargs = self.transcribe_kwargs(language)
        if vad_filter is not None:
            kwargs["vad_filter"] = vad_filter
        segments_iter, info = self.model.transcribe(
            np.ascontiguousarray(samples, dtype=np.float32),
            **kwargs,
        )
        segments = [_segment(raw) for raw in segments_iter]  # the generator does the work
        segments = [segment for segment in segments if segment.words]
        words = [word for segment in segments for word in segment.words]
        return Transcript(words=words, segments=segments, language=info.language)

    def transcribe_kwargs(self, language: str | None) -> dict[str, Any]:
        """The exact decode options, shared with the benchmark's raw baseline."""
        return {
            "language": language,
            "beam_size": self.settings.beam_size,
            "vad_filter": self.settings.vad_filter,
            "condition_on_previous_text": self.settings.condition_on_previous_text,
            "word_timestamps": True,
            "temperature": list(self.settings.temperatures),
        }

    def _language(self, requested: str | None) -> str | None:
        if not self.multilingual:
            return "en"  # .en models know nothing else
        if not requested:
            return None  # multilingual model: detect from the first 30 s
        # The API takes BCP-47 ("en-US"); Whisper wants the primary subtag.
        return requested.split("-")[0].split("_")[0].lower()


def _segment(raw: Any) -> Segment:
    words = tuple(
        Word(
            start=float(word.start),
            end=float(max(word.end, word.start)),
            text=word.word.strip(),
            probability=float(word.probability),
            attached=index > 0 and not word.word[:1].isspace(),
        )
        for index, word in enumerate(raw.words or ())
        if word.word.strip()
    )
    return Segment(start=float(raw.start), end=float(raw.end), text=raw.text.strip(), words=words)
