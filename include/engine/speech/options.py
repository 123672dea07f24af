"""Options of one transcription job, as processors receive them.

Kept free of heavy imports: the worker process falls back to this class for processors whose
module does not export its own `JobOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class JobOptions:
    channel: bool = False
    diarize: bool = False
    speakers: int = 2
    model: str = "tiny.en"
    language: str | None = None
    output_formats: tuple[str, ...] = ("json",)
