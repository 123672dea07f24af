"""Deterministic test processors, importable by the engine's spawned worker processes.

`transcribe(path, options)` mimics the speech core facade: one segment per second of audio
(duration read with PyAV). The file name steers it:
  - `sleep-<N>ms` sleeps N milliseconds first (to observe queued/processing, restarts);
  - `hold-on-<instance>-<N>ms` sleeps N milliseconds only on the engine of that instance id
    (``CALLMINE_ENGINE_INSTANCE_ID``): a job that stays busy on one engine and is quick on another;
  - `raise` raises RuntimeError; `crash` kills the worker process (os._exit);
  - `big` produces a large document (offloaded to result_url).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import av


@dataclass(slots=True)
class Result:
    document: dict[str, Any]
    subtitles: dict[str, str] = field(default_factory=dict)


def duration_of(path: str) -> float:
    with av.open(path) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


def transcribe(path: str, options: Any) -> Result:
    name = os.path.basename(path)
    sleep = re.search(r"sleep-(\d+)ms", name)
    if sleep:
        time.sleep(int(sleep.group(1)) / 1000)
    hold = re.search(r"hold-on-([A-Za-z0-9-]+)-(\d+)ms", name)
    if hold and os.environ.get("CALLMINE_ENGINE_INSTANCE_ID") == hold.group(1):
        time.sleep(int(hold.group(2)) / 1000)
    if "raise" in name:
        raise RuntimeError("processor exploded on purpose")
    if "crash" in name:
        os._exit(7)
    seconds = duration_of(path)
    count = 400 if "big" in name else max(1, int(seconds))
    step = seconds / count
    segments = []
    for i in range(count):
        segment: dict[str, Any] = {"start": round(i * step, 3), "end": round((i + 1) * step, 3), "text": f"segment {i}"}
        if options.channel:
            segment["channel"] = i % 2
        elif options.diarize:
            segment["speaker"] = f"speaker_{i % 2}"
        segments.append(segment)
    words = [{"start": s["start"], "end": s["end"], "word": s["text"]} for s in segments]
    document = {
        "text": " ".join(s["text"] for s in segments),
        "speakers": 2 if (options.channel or options.diarize) else 1,
        "audio_seconds": round(seconds, 3),
        "segments": segments,
        "words": words,
        "model": options.model,
    }
    return Result(document)


PROCESSING_LOG_ENV = "CALLMINE_TEST_PROCESSING_LOG"
_JOB_ID = re.compile(r"(job_[0-9a-f]{24})")


def transcribe_recorded(path: str, options: Any) -> Result:
    """``transcribe``, after recording the call: one empty file per call in ``$CALLMINE_TEST_PROCESSING_LOG``
    named ``<job id>.<engine instance>.<worker pid>.<ns>`` (the job id is in the audio file's name:
    ``<storage>/audio/<job id>_<name>``). The shared-queue tests count processing per job with it."""
    folder = os.environ.get(PROCESSING_LOG_ENV)
    match = _JOB_ID.search(os.path.basename(path))
    if folder and match:
        instance = os.environ.get("CALLMINE_ENGINE_INSTANCE_ID", "engine")
        open(os.path.join(folder, f"{match.group(1)}.{instance}.{os.getpid()}.{time.time_ns()}"), "x").close()
    return transcribe(path, options)
