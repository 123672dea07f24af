"""Find the recordings of some call dates under a source (local folder or fsspec URL).

A recording's call date comes from a ``YYYY/MM/DD/`` path, else a ``YYYY-MM-DD`` in its
file name, else its modification time (UTC). Only audio files count; anything else is
skipped with a log line. One pass serves several dates (a run's day and its lookback days).

What is listed, and how a dated archive avoids a full walk: ``callmine.source_listing``.

Hostile sources never crash a run, and no file disappears without a log line naming it
(names are logged escaped: undecodable bytes as ``\\xNN``, newlines as ``\\n``):

- Unusable media (0 bytes, text under an audio extension, truncated WAV, no audio
  stream...) is kept with its ``probe_error`` (see ``callmine.probe``): a failed call
  with that reason, never submitted. A read error of one file is that file's
  ``probe_error`` too, never the run's.
- ``max_duration_s`` (the provider's limit): a longer recording is kept as failed,
  ``longer than the provider's limit of N s``, and never submitted.
- 3+ channels: transcribed with channel diarization, one party per channel
  (``ch0`` agent, the others customers); see ``callmine.probe`` for why.
- Names with spaces, quotes, newlines, ``#``, ``?``, ``%`` or dots (``..a.wav``, a
  ``...`` folder) are recordings like any other: the call id is a hash of the URI and
  the URI opens with ``fsspec.open``. A local source root spelled with ``.``, ``..`` or
  ``//`` is normalized first, so call ids do not depend on how the source was written.
- A name that cannot be a source URI is **skipped** with a warning and listed in
  ``Discovery.unrepresentable``: one that is not valid UTF-8 (os.fsencode bytes; the
  warehouse stores URIs as UTF-8 text) or one fsspec would read as another path
  (``::`` chains filesystems). Renaming the file lets the next run take it.
- Symlinks (local sources): a link to a file inside the source root is a recording
  under the link's path. A link pointing outside the root is ignored with a warning
  (``Discovery.outside_root``): the source root is the boundary of what a run reads.
  Broken links, links to folders (their recordings are found under their real path)
  and special files (FIFOs, sockets, devices: opening a FIFO would hang the run) are
  ignored with a log line.
- A recording whose size or modification time changes between listing and probe (or
  that vanishes) is **skipped for this run** with a warning (``Discovery.unsettled``):
  it is still being written, and the next run takes the settled file. Probing the moving
  file would transcribe part of a call, and a completed call is never looked at again.
- A folder that cannot be listed is logged (``Discovery.unlisted``), not silently empty.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from callmine.object_store import filesystem
from callmine.probe import probe_audio
from callmine.recordings import AUDIO_EXTENSIONS, Recording, make_call_id
from callmine.source_listing import list_source, printable, valid_date

log = logging.getLogger(__name__)

_PATH_DATE = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/")
_NAME_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


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
        if found := valid_date(*match.groups()):
            return found
    name = path.rsplit("/", 1)[-1]
    for match in _NAME_DATE.finditer(name):
        if found := valid_date(*match.groups()):
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
    recordings: list[Recording] = field(default_factory=list)  # of every wanted date, in path order
    ignored: list[str] = field(default_factory=list)  # not audio (or not a regular file)
    already_loaded: list[str] = field(default_factory=list)  # call_ids skipped
    already_loaded_by_date: dict[date, int] = field(default_factory=dict)
    other_dates: int = 0  # audio files listed whose call date is none of the wanted ones
    # Skipped with a warning; names as the log shows them (escaped, see ``printable``).
    unrepresentable: list[str] = field(default_factory=list)  # name cannot be a source URI
    outside_root: list[str] = field(default_factory=list)  # symlinks leading out of the source
    unsettled: list[str] = field(default_factory=list)  # changed or vanished while probed: next run
    unlisted: list[str] = field(default_factory=list)  # folders that could not be listed
    # How the source was listed (the log says the same): the folders listed recursively,
    # relative to the root and escaped: the wanted days' ("2026/11/20/"), then those outside
    # the dated layout ("inbox/"); or [""], the whole tree, with the reason in ``full_walk``.
    listed: list[str] = field(default_factory=list)
    outside_files: int = 0  # files outside the dated layout taken from its folders' listings (loose files)
    full_walk: str | None = None
    files_listed: int = 0

    def of_date(self, day: date) -> list[Recording]:
        """The recordings of one call date, in path order."""
        return [r for r in self.recordings if r.call_date == day.isoformat()]


def source_filesystem(source_uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The source's filesystem, with its credentials (callmine.object_store: connection or environment)."""
    fs, root = filesystem(source_uri)
    if isinstance(fs, LocalFileSystem):
        # "/a/x/../b", "/a/./b" and "/a//b" are one folder: one spelling, so one set of call ids.
        root = os.path.normpath(root)
    return fs, root


def _round_trips(fs: fsspec.AbstractFileSystem, path: str, uri: str) -> bool:
    """Whether ``fsspec.open(uri)`` reaches ``path`` on this filesystem (the submit step opens the URI)."""
    try:
        other, other_path = fsspec.core.url_to_fs(uri)
    except Exception:  # noqa: BLE001 - any failure to parse means "cannot be opened"
        return False
    return type(other) is type(fs) and other_path == path


def _unrepresentable(fs: fsspec.AbstractFileSystem, path: str, uri: str, check_round_trip: bool) -> str | None:
    """Why this file cannot be a recording's ``source_uri``, or None."""
    try:
        uri.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8, so it cannot be stored as a source URI"
    if check_round_trip and not _round_trips(fs, path, uri):
        return "fsspec would read its URI as another path ('::' chains filesystems)"
    return None


def _local_entry(fs: fsspec.AbstractFileSystem, path: str, info: dict[str, Any],
                 real_root: str) -> tuple[dict[str, Any], str | None, bool]:
    """For a local symlink or special file: (info of what it points to, why it is ignored or None, outside root)."""
    if info.get("islink"):
        target = os.path.realpath(path)
        if os.path.commonpath([target, real_root]) != real_root:
            return (info, f"it is a symlink pointing outside the source root {printable(real_root)} "
                          f"(to {printable(target)})", True)
        try:
            # The listing describes the link itself; size, type and mtime must be the target's.
            info = fs.info(path)
        except OSError as exc:
            return info, f"it is a broken symlink ({exc.strerror or exc})", False
        if info.get("type") == "directory":
            return (info, "it is a symlink to a folder (not followed: its recordings are found under their "
                          "real path)", False)
    if info.get("type") != "file":
        return info, "it is not a regular file (a FIFO, socket or device)", False
    return info, None, False


def _change_since_listing(fs: fsspec.AbstractFileSystem, path: str, listed: dict[str, Any]) -> str | None:
    """How the file changed since it was listed (it is still being written), or None."""
    try:
        fs.invalidate_cache(path)  # object stores would answer from the listing's cache
        now = fs.info(path)
    except FileNotFoundError:
        return "it vanished after it was listed (moved or deleted)"
    except OSError:
        return None  # the probe already recorded why it cannot be read
    changes = []
    if now.get("size") != listed.get("size"):
        changes.append(f"size {listed.get('size')} -> {now.get('size')} bytes")
    before, after = modified_time(listed), modified_time(now)
    if before != after:
        changes.append(f"modified {before.isoformat() if before else None} -> {after.isoformat() if after else None}")
    return f"it changed while being read ({', '.join(changes)})" if changes else None


def find_recordings(
    source_uri: str,
    call_date: date,
    *,
    skip_call_ids: Iterable[str] = (),
    probe: bool = True,
    max_duration_s: float | None = None,
    full_walk: bool = False,
) -> Discovery:
    """Recordings whose call date is ``call_date``, minus ``skip_call_ids`` (already loaded).

    ``max_duration_s``: the provider's limit on one recording; longer ones are kept as
    failed (``probe_error``) and never submitted. Needs ``probe`` (the duration comes from it).
    ``full_walk``: list the whole tree even when it is laid out by date.
    """
    return find_recordings_of_dates(source_uri, {call_date: skip_call_ids}, probe=probe,
                                    max_duration_s=max_duration_s, full_walk=full_walk)


def find_recordings_of_dates(
    source_uri: str,
    dates: Mapping[date, Iterable[str]],
    *,
    probe: bool = True,
    max_duration_s: float | None = None,
    full_walk: bool = False,
) -> Discovery:
    """Recordings of several call dates in one pass over the source.

    ``dates`` maps each wanted call date to the call ids to skip on it (already loaded);
    each recording keeps its own ``call_date`` (``Discovery.of_date`` picks one date's).
    ``full_walk`` lists the whole tree even when it is laid out by date.
    """
    if not dates:
        raise ValueError("no call date to find recordings of")
    fs, root = source_filesystem(source_uri)
    if not fs.exists(root):
        # An empty day is normal; a missing source is a misconfiguration, not "no calls".
        raise FileNotFoundError(f"recordings source {source_uri!r} does not exist (CALLMINE_SOURCE_URI / param source_uri)")
    skip = {day: set(ids) for day, ids in dates.items()}
    found = Discovery()
    local = isinstance(fs, LocalFileSystem)
    real_root = os.path.realpath(root) if local else ""
    # A chained or unusual source may not round-trip even for plain names; then only names are checked.
    check_round_trip = _round_trips(fs, root, fs.unstrip_protocol(root))

    def unlistable(exc: OSError) -> None:
        folder = printable(str(getattr(exc, "filename", None) or exc))
        log.warning("cannot list folder %s: %s; recordings in it are missing from this run", folder,
                    exc.strerror or exc)
        found.unlisted.append(folder)

    listing, how = list_source(fs, root, set(skip), local, full_walk, unlistable)
    found.listed, found.outside_files, found.full_walk, found.files_listed = (
        how.listed, how.outside_files, how.full_walk, how.files_listed)
    below_root = root.rstrip("/") + "/"
    for path, info in sorted(listing.items()):
        if info.get("type") == "directory":
            continue
        if local and (info.get("islink") or info.get("type") != "file"):
            info, problem, outside = _local_entry(fs, path, info, real_root)
            if problem:
                shown = printable(path)
                log.warning("ignoring %s: %s", shown, problem)
                if outside:
                    found.outside_root.append(shown)
                else:
                    found.ignored.append(path)
                continue
        rel = path[len(below_root) :] if path.startswith(below_root) else path
        fmt = audio_format(path)
        if fmt is None:
            log.info("skipping %s: not an audio file (%s)", printable(path), ", ".join(sorted(AUDIO_EXTENSIONS)))
            found.ignored.append(path)
            continue
        modified = modified_time(info)
        call_date = call_date_of(rel, modified)
        if call_date not in skip:
            found.other_dates += 1
            continue
        uri = fs.unstrip_protocol(path)
        if reason := _unrepresentable(fs, path, uri, check_round_trip):
            shown = printable(path)
            log.warning("skipping %s: %s; rename it and the next run takes it", shown, reason)
            found.unrepresentable.append(shown)
            continue
        call_id = make_call_id(uri)
        if call_id in skip[call_date]:
            found.already_loaded.append(call_id)
            found.already_loaded_by_date[call_date] = found.already_loaded_by_date.get(call_date, 0) + 1
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
            probe_recording(fs, path, recording, max_duration_s=max_duration_s)
            if change := _change_since_listing(fs, path, info):
                shown = printable(path)
                log.warning("skipping %s (%s) this run: %s; the next run takes the settled file", shown,
                            call_id, change)
                found.unsettled.append(shown)
                continue
        found.recordings.append(recording)
    return found


# Reasons a later run may not meet again: a file just created (recorders create it empty or
# header-only, then write), a copy still landing, a share or permission fixed. Text, no
# audio stream, too long: the same file fails the same way every time.
_RETRYABLE_PROBE_ERRORS = ("recording is empty", "recording is truncated", "cannot read recording",
                           "cannot probe recording")


def probe_error_retryable(reason: str | None) -> bool:
    """Whether a failed call with this ``probe_error`` is worth another try by a later run."""
    return reason is not None and reason.startswith(_RETRYABLE_PROBE_ERRORS)


def probe_recording(fs: fsspec.AbstractFileSystem, path: str, recording: Recording, *,
                    max_duration_s: float | None = None) -> None:
    """Set the recording's duration and channels, or its ``probe_error`` (never raises for one bad file)."""
    if recording.size_bytes == 0:
        recording.probe_error = "recording is empty (0 bytes)"
    else:
        try:
            with fs.open(path, "rb") as handle:
                result = probe_audio(handle)
        except OSError as exc:
            recording.probe_error = f"cannot read recording: {exc.strerror or exc}"
        except Exception as exc:  # noqa: BLE001 - one odd file (or backend) must not end the day's discovery
            log.exception("probing %s failed unexpectedly", printable(recording.source_uri))
            recording.probe_error = f"cannot probe recording: {type(exc).__name__}: {exc}"
        else:
            recording.duration_s = result.duration_s
            recording.channels = result.channels
            recording.probe_error = result.error
    if (not recording.probe_error and max_duration_s is not None and recording.duration_s is not None
            and recording.duration_s > max_duration_s):
        recording.probe_error = (f"longer than the provider's limit of {max_duration_s:g} s "
                                 f"({recording.duration_s:.1f} s of audio)")
    if recording.probe_error:
        log.warning("recording %s (%s) is unusable: %s", printable(recording.source_uri), recording.call_id,
                    recording.probe_error)
