"""How discovery lists a source: only the folders it needs when the archive is laid out by date.

What is listed (the source may hold years of calls; listing it all is the slow part):

- **Dated layout**: the root's top level holds year folders (4 digits). Then only the
  layout's skeleton is listed one level at a time (each year folder, each ``MM`` folder in
  it: about 13 small listings per year of archive), and then each wanted day's
  ``YYYY/MM/DD/`` folder, recursively. This finds every wanted recording: a file below a
  valid ``YYYY/MM/DD/`` folder takes that folder's date (the path wins over a date in its
  name), so no other day folder can hold one. A wanted day without a folder is an empty
  day, not an error.
- **Outside the layout** (a mixed root): loose files and non-year folders at the top, and
  anything in a year or month folder that is not a month or a valid day folder
  (``2026/notes/``, ``2026/11/x.wav``, ``2026/02/30/``, ``2026/11/5/``), are listed fully
  and dated like any file (path, name, modification time). A mixed root never loses a
  recording; its loose part costs a full listing of that part, and the log names it. A
  4-digit folder that is not a year (an agent number) is no trap either: what is in it is
  outside the layout, so it is listed fully.
- **Flat layout**: no year folder at the top: the whole tree is walked, as before.
  ``full_walk=True`` walks the whole tree whatever the layout (comparisons, or a source
  whose layout you do not trust).

The log says which day folders were listed (or that one is missing), how many files were
listed and how long it took, what was outside the layout, and why a full walk happened.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import fsspec

log = logging.getLogger("callmine.discovery")

# The folder names of the dated layout, with the digits of discovery's path-date pattern (so both agree).
_YEAR_FOLDER = re.compile(r"\d{4}")
_MONTH_OR_DAY_FOLDER = re.compile(r"\d{2}")


@dataclass
class Listing:
    """How the source was listed (see ``callmine.discovery.Discovery`` for the fields)."""

    listed: list[str] = field(default_factory=list)
    outside_files: int = 0
    full_walk: str | None = None
    files_listed: int = 0


def valid_date(y: str, m: str, d: str) -> date | None:
    try:
        return date(int(y), int(m), int(d))
    except ValueError:
        return None


def printable(text: str) -> str:
    """A path as a log line can show it: undecodable bytes as ``\\xNN``, control characters escaped."""
    try:
        raw = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        raw = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in raw)


def list_local(fs: fsspec.AbstractFileSystem, root: str,
                on_error: Callable[[OSError], None]) -> dict[str, dict[str, Any]]:
    """Every non-folder entry under ``root``, like ``fs.find(detail=True)``, but a folder that
    cannot be listed is reported: fsspec's walk silently omits it below the top level."""
    found: dict[str, dict[str, Any]] = {}
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            entries = fs.ls(folder, detail=True)
        except OSError as exc:
            on_error(exc)
            continue
        for info in entries:
            name = info["name"].rstrip("/")
            if info.get("type") == "directory" and name != folder:
                folders.append(name)  # symlinked folders are "other": never followed
            else:
                found[name] = info
    return found


def _ls(fs: fsspec.AbstractFileSystem, folder: str, local: bool,
        on_error: Callable[[OSError], None]) -> list[dict[str, Any]]:
    """One level of ``folder``. Locally, a folder that cannot be listed is reported (as in
    ``list_local``); other filesystems raise, as their full walk does. A folder listed as
    its own entry (an object store's folder marker) is left out."""
    if local:
        try:
            entries = fs.ls(folder, detail=True)
        except OSError as exc:
            on_error(exc)
            return []
    else:
        fs.invalidate_cache(folder)  # an object store's cached listing may predate today's uploads
        entries = fs.ls(folder, detail=True)
    return [info for info in entries if not (info.get("type") == "directory" and info["name"].rstrip("/") == folder)]


def _walk(fs: fsspec.AbstractFileSystem, path: str, local: bool,
          on_error: Callable[[OSError], None]) -> dict[str, dict[str, Any]]:
    """Every non-folder entry under ``path`` (``path`` itself if it is not a folder)."""
    if local:
        return list_local(fs, path, on_error)
    return fs.find(path, detail=True)  # type: ignore[return-value]


def _is_folder(info: dict[str, Any], name: str, parent: str) -> bool:
    # Local symlinks to folders are "other" in a listing: never followed (see ``_local_entry``).
    return info.get("type") == "directory" and name != parent


def list_source(fs: fsspec.AbstractFileSystem, root: str, dates: set[date], local: bool, full_walk: bool,
                on_error: Callable[[OSError], None]) -> tuple[dict[str, dict[str, Any]], Listing]:
    """The entries to look at for ``dates``: the wanted day folders of a dated layout plus
    everything outside it, or the whole tree (see the module docstring); and how it listed."""
    found = Listing()
    shown_root = printable(fs.unstrip_protocol(root))
    base = root.rstrip("/")
    started = time.monotonic()

    def rel(path: str) -> str:
        return printable(path[len(base) + 1:] if path.startswith(base + "/") else path)

    def expand(entries: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Listed entries as files: folders walked whole, files as they are; and the folders walked."""
        files: dict[str, dict[str, Any]] = {}
        folders = []
        for info in entries:
            name = info["name"].rstrip("/")
            if _is_folder(info, name, root):
                files.update(_walk(fs, name, local, on_error))
                folders.append(name)
            else:
                files[name] = info
        return files, folders

    def walked_whole(listing: dict[str, dict[str, Any]], why: str) -> dict[str, dict[str, Any]]:
        found.listed, found.full_walk, found.files_listed = [""], why, len(listing)
        log.info("source %s: walked the whole tree because %s: %d file(s) listed in %.1f s",
                 shown_root, why, len(listing), time.monotonic() - started)
        return listing, found

    if full_walk:
        return walked_whole(_walk(fs, root, local, on_error), "a full walk was asked for (full_walk=True)")
    top = _ls(fs, root, local, on_error)
    years, outside = [], []
    for info in top:
        name = info["name"].rstrip("/")
        if _is_folder(info, name, root) and _YEAR_FOLDER.fullmatch(name.rsplit("/", 1)[-1]):
            years.append(name)
        else:
            outside.append(info)
    if not years:
        # The top level is listed already: walk its folders (listing a flat root again would cost as much).
        return walked_whole(expand(outside)[0], "its top level holds no year folder (YYYY/): a flat layout")

    day_folders: dict[date, list[str]] = {}
    for year in sorted(years):
        for info in _ls(fs, year, local, on_error):
            month = info["name"].rstrip("/")
            if not (_is_folder(info, month, year) and _MONTH_OR_DAY_FOLDER.fullmatch(month.rsplit("/", 1)[-1])):
                outside.append(info)
                continue
            for day_info in _ls(fs, month, local, on_error):
                folder = day_info["name"].rstrip("/")
                y, m, d = year.rsplit("/", 1)[-1], month.rsplit("/", 1)[-1], folder.rsplit("/", 1)[-1]
                day = (valid_date(y, m, d) if _is_folder(day_info, folder, month)
                       and _MONTH_OR_DAY_FOLDER.fullmatch(d) else None)
                if day is None:
                    outside.append(day_info)
                else:
                    day_folders.setdefault(day, []).append(folder)

    listing: dict[str, dict[str, Any]] = {}
    for day in sorted(dates):
        if not day_folders.get(day):
            log.info("source %s: no folder %s/ for call date %s: no recordings of that day in the dated layout",
                     shown_root, f"{day:%Y/%m/%d}", day.isoformat())
        for folder in day_folders.get(day, []):
            files = _walk(fs, folder, local, on_error)
            listing.update(files)
            found.listed.append(rel(folder) + "/")
            log.info("source %s: listed %s/ for call date %s: %d file(s)", shown_root, rel(folder),
                     day.isoformat(), len(files))
    days_listed = len(found.listed)
    if outside:
        outside.sort(key=lambda info: info["name"])
        files, folders = expand(outside)
        listing.update(files)
        found.listed += [rel(folder) + "/" for folder in folders]
        found.outside_files = len(outside) - len(folders)
        shown = ", ".join(rel(info["name"].rstrip("/")) + ("/" if info["name"].rstrip("/") in folders else "")
                          for info in outside[:10]) + (f" and {len(outside) - 10} more" if len(outside) > 10 else "")
        log.info("source %s: %d entr%s outside the YYYY/MM/DD/ layout (%d folder(s) walked, %d file(s)), listed "
                 "fully (their recordings are dated by path, file name or modification time): %d file(s) in %s",
                 shown_root, len(outside), "y" if len(outside) == 1 else "ies", len(folders), found.outside_files,
                 len(files), shown)
    found.files_listed = len(listing)
    log.info("source %s is laid out by date: listed %d day folder(s) for %d call date(s) and %d entr%s outside "
             "the layout instead of the whole tree: %d file(s) in %.1f s", shown_root, days_listed, len(dates),
             len(outside), "y" if len(outside) == 1 else "ies", len(listing), time.monotonic() - started)
    return listing, found
