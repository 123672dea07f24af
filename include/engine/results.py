"""Job documents as the API renders them and result files (SRT/WebVTT: speech/subtitles.py).

The files live in the engine's storage (storage.py): the data dir by default, where
``result_dir``/``result_file`` name them, or a location shared by several engines.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .speech.subtitles import to_srt, to_vtt  # noqa: F401 - one SRT/VTT implementation, re-exported
from .store import JobRow

MEDIA_TYPES = {
    "result": "application/json",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}
URL_OVERHEAD = 220  # bytes each signed URL adds to an inline result

Linker = Callable[[str, str], str]  # (kind, job_id) -> absolute signed URL


def result_dir(data_dir: Path, job_id: str) -> Path:
    return data_dir / "results" / job_id


def result_file(data_dir: Path, job_id: str, kind: str) -> Path:
    return result_dir(data_dir, job_id) / ("result.json" if kind == "result" else f"result.{kind}")


def is_offloaded(job: JobRow, threshold: int) -> bool:
    size = (job.result_bytes or 0) + URL_OVERHEAD * len(job.formats)
    return size > threshold


def full_result(data_dir: Path, job: JobRow, link: Linker) -> str:
    """Result document from the data dir with freshly signed `formats` URLs spliced in."""
    return splice_formats(result_file(data_dir, job.job_id, "result").read_text(encoding="utf-8"), job, link)


def splice_formats(core: str, job: JobRow, link: Linker) -> str:
    """The stored result document (``core``) with freshly signed `formats` URLs spliced in."""
    formats = {kind: link(kind, job.job_id) for kind in job.formats}
    body = core.rstrip()
    sep = "" if body.endswith("{}") else ","
    return body[:-1] + sep + '"formats":' + json.dumps(formats, separators=(",", ":")) + "}"


def job_document(job: JobRow, *, offloaded: bool, link: Linker) -> dict[str, Any]:
    """The job resource without its inline result (the GET handler splices that in)."""
    options = job.options
    doc: dict[str, Any] = {"job_id": job.job_id, "status": job.status, "created_at": job.created_at}
    if job.started_at and job.status != "queued":
        doc["started_at"] = job.started_at
    if job.audio_url is not None:
        doc["audio_url"] = job.audio_url
    else:
        doc["filename"] = job.filename
    doc.update({
        "channel": options["channel"],
        "diarize": options["diarize"],
        "numerals": options["numerals"],
        "output_formats": options["output_formats"],
        "webhook_url": options["webhook_url"],
        "language": options["language"],
        "speakers_expected": options["speakers_expected"],
        "model": options["model"],
        "attempts": job.attempts,
    })
    if job.completed_at:
        doc["completed_at"] = job.completed_at
    if job.status == "failed":
        doc["error"] = job.error
    elif job.status == "completed":
        doc["audio_seconds"] = job.audio_seconds
        if offloaded:
            doc["result_url"] = link("result", job.job_id)
    return doc
