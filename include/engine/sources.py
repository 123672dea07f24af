"""Where audio may come from: ``file://`` under the configured roots, ``http(s)://`` (guarded in outbound.py).

A ``file://`` URL is accepted only when its path, resolved with every symlink followed,
is an existing regular file inside one of the roots and outside the data dir and any shared
storage folder (other tenants' uploads and results live there). Everything else gets ONE
message, the same whether the file exists or not, naming no path. The check runs at submit and again
right before processing (the file system may have changed in between).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

FILE_URL_REFUSED = ("audio_url: file:// is only accepted for a readable audio file under the engine's file roots "
                    "(CALLMINE_ENGINE_FILE_ROOTS); upload the audio as multipart/form-data instead")
# The single text of every audio_url fetch failure: never says why (refused address, DNS,
# closed port, HTTP status, timeout), so it cannot be used to map a network.
FETCH_FAILED = ("could not fetch audio_url: refused, unreachable or unsuccessful (loopback, private and link-local "
                "addresses are refused unless the engine's operator allows them)")
MAX_URL_LENGTH = 4096


class SourceRefused(Exception):
    pass


def _resolved_roots(roots: Iterable[Path]) -> list[Path]:
    resolved = []
    for root in roots:
        try:
            resolved.append(Path(root).resolve(strict=True))
        except (OSError, RuntimeError):
            continue  # a root that does not exist allows nothing
    return resolved


def resolve_file_url(url: str, roots: Iterable[Path], data_dir: Path, private: Iterable[Path] = ()) -> Path:
    """The real path of an allowed ``file://`` URL; SourceRefused (no detail) otherwise.

    ``data_dir`` and every folder of ``private`` (a shared storage folder) are never readable."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise SourceRefused()
    raw = unquote(parts.path)
    if not raw.startswith("/") or "\x00" in raw:
        raise SourceRefused()
    allowed = _resolved_roots(roots)
    if not allowed:
        raise SourceRefused()
    try:
        real = Path(raw).resolve(strict=True)  # follows every symlink, fails if anything is missing
        mode = os.stat(real).st_mode
    except (OSError, RuntimeError, ValueError):
        raise SourceRefused() from None
    if not stat.S_ISREG(mode):
        raise SourceRefused()
    if not any(real.is_relative_to(root) for root in allowed):
        raise SourceRefused()
    for folder in (data_dir, *private):
        try:
            inside_data = real.is_relative_to(Path(folder).resolve())
        except (OSError, RuntimeError):
            inside_data = True
        if inside_data:
            raise SourceRefused()
    return real
