"""Find the recordings of one call date under a source (local folder or fsspec URL).

A recording's call date comes from a ``YYYY/MM/DD/`` path, else a ``YYYY-MM-DD`` in its
file name, else its modification time (UTC). Only audio files count; anything else is
skipped with a log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import fsspec

from callmine.probe import probe_audio
from callmine.recordings import AUDIO_EXTENSIONS, Recording, make_call_id

log = logging.getLogger(__name__)

_PATH_DATE = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/")
_NAME_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


def _valid_date(y: str, m: str, d: str) -> date | None:
    try:
        return date(int(y), int(m), int(d))
    except ValueError:
        return None


def modified_time(info: dict[str, Any]) -> datetime | None:
    """Modification time from an fsspec info dict (each backend names it differently)."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, tz=timezone.utc)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def call_date_of(path: str, modified: datetime | None) -> date | None:
    for match in _PATH_DATE.finditer(path):
        if found := _valid_date(*match.groups()):
            return found
    name = path.rsplit("/", 1)[-1]
    for match in _NAME_DATE.finditer(name):
        if found := _valid_date(*match.groups()):
            return found
    return modified.astimezone(timezone.utc).date() if modified else None


def audio_format(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return None
    ext = name.rsplit(".", 1)[-1].lower()
    return ext if ext in AUDIO_EXTENSIONS else None


@dataclass(slots=True)
class Discovery:
    recordings: list[Recording] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # not audio
    already_loaded: list[str] = field(default_factory=list)  # call_ids skipped
    other_dates: int = 0


def source_filesystem(source_uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    return fsspec.core.url_to_fs(source_uri)


def find_recordings(
    source_uri: str,
    call_date: date,
    *,
    skip_call_ids: Iterable[str] = (),
    probe: bool = True,
) -> Discovery:
    """Recordings whose call date is ``call_date``, minus ``skip_call_ids`` (already loaded)."""
    fs, root = source_filesystem(source_uri)
    if not fs.exists(root):
        # An empty day is normal; a missing source is a misconfiguration, not "no calls".
        raise FileNotFoundError(f"recordings source {source_uri!r} does not exist (CALLMINE_SOURCE_URI / param source_uri)")
    skip = set(skip_call_ids)
    found = Discovery()
    listing: dict[str, dict[str, Any]] = fs.find(root, detail=True)  # type: ignore[assignment]
    for path, info in sorted(listing.items()):
        if info.get("type") == "directory":
            continue
        rel = path[len(root.rstrip("/")) + 1 :] if path.startswith(root.rstrip("/") + "/") else path
        fmt = audio_format(path)
        if fmt is None:
            log.info("skipping %s: not an audio file (%s)", path, ", ".join(sorted(AUDIO_EXTENSIONS)))
            found.ignored.append(path)
            continue
        modified = modified_time(info)
        if call_date_of(rel, modified) != call_date:
            found.other_dates += 1
            continue
        uri = fs.unstrip_protocol(path)
        call_id = make_call_id(uri)
        if call_id in skip:
            found.already_loaded.append(call_id)
            continue
        recording = Recording(
            call_id=call_id,
            source_uri=uri,
            call_date=call_date.isoformat(),
            format=fmt,
            size_bytes=info.get("size"),
            modified_at=modified.isoformat() if modified else None,
        )
        if probe:
            probe_recording(fs, path, recording)
        found.recordings.append(recording)
    return found


def probe_recording(fs: fsspec.AbstractFileSystem, path: str, recording: Recording) -> None:
    if recording.size_bytes == 0:
        recording.probe_error = "recording is empty (0 bytes)"
    else:
        try:
            with fs.open(path, "rb") as handle:
                result = probe_audio(handle)
        except OSError as exc:
            recording.probe_error = f"cannot read recording: {exc}"
            return
        recording.duration_s = result.duration_s
        recording.channels = result.channels
        recording.probe_error = result.error
    if recording.probe_error:
        log.warning("recording %s (%s) is unusable: %s", recording.source_uri, recording.call_id, recording.probe_error)
