"""Which staged files make up each batch: commit markers, and the previous release's Parquet.

    _staging/<run_key>/_batches/<batch>.json         the commit marker of the batch's live attempt
    _staging/<run_key>/<table>/<batch>.<token>.arrow  that attempt's files (``token`` in the marker)
    _staging/<run_key>/<table>/<batch>.parquet        a batch the previous release staged

Why a marker, and the rules readers follow: ``staging.py``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from callmine.warehouse.layout import staging_dir
from callmine.warehouse.schema import TABLES
from callmine.warehouse.storage import Storage

MARKER_DIR = "_batches"
MARKER_SUFFIX = ".json"
FORMAT = "arrow-ipc"
BATCH_SUFFIX = ".arrow"
LEGACY_SUFFIX = ".parquet"  # staged by releases before IPC staging
_TOKEN = re.compile(r"^[0-9a-f]{12,64}$")


@dataclass(frozen=True)
class Attempt:
    """One stage of a batch: its token and the rows of each table it wrote (non-empty ones only)."""

    token: str
    rows: dict[str, int]

    @classmethod
    def new(cls, rows: dict[str, int]) -> Attempt:
        return cls(uuid.uuid4().hex, rows)

    def files(self, storage: Storage, run_key: str, batch: str) -> dict[str, str]:
        """table -> the file this attempt wrote for it."""
        return {name: storage.path(staging_dir(run_key, name), f"{batch}.{self.token}{BATCH_SUFFIX}")
                for name in self.rows}

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, "token": self.token, "tables": self.rows}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, content: bytes, where: str) -> Attempt:
        try:
            doc = json.loads(content)
            fmt, token, rows = doc["format"], doc["token"], doc["tables"]
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"unreadable staging commit marker {where}: {e}") from None
        if fmt != FORMAT:
            raise ValueError(f"staging commit marker {where}: format {fmt!r}, this release reads {FORMAT!r}")
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise ValueError(f"staging commit marker {where}: bad token {token!r}")
        if not isinstance(rows, dict) or set(rows) - set(TABLES) or not all(
                isinstance(n, int) and n > 0 for n in rows.values()):
            raise ValueError(f"staging commit marker {where}: bad tables {rows!r}")
        return cls(token, rows)


def marker_path(storage: Storage, run_key: str, batch: str) -> str:
    return storage.path(staging_dir(run_key, MARKER_DIR), batch + MARKER_SUFFIX)


def commit(storage: Storage, run_key: str, batch: str, attempt: Attempt) -> None:
    """Make ``attempt`` the batch's live one: a single atomic write."""
    storage.write_bytes_atomic(marker_path(storage, run_key, batch), attempt.to_json())


def committed_attempt(storage: Storage, run_key: str, batch: str) -> Attempt | None:
    path = marker_path(storage, run_key, batch)
    content = storage.read_bytes(path)
    return None if content is None else Attempt.from_json(content, path)


def staged_files(storage: Storage, run_key: str) -> dict[str, dict[str, str]]:
    """batch -> table -> file to read, for every committed batch and every legacy Parquet one."""
    markers, legacy = _listing(storage, run_key)
    files = {batch: files for batch, files in legacy.items() if batch not in markers}
    for batch in markers:
        attempt = committed_attempt(storage, run_key, batch)
        if attempt is not None:  # None: cleared since listed
            files[batch] = attempt.files(storage, run_key, batch)
    return files


def legacy_files(storage: Storage, run_key: str) -> dict[str, dict[str, str]]:
    """batch -> table -> ``<batch>.parquet`` file the previous release staged."""
    return _listing(storage, run_key)[1]


def _listing(storage: Storage, run_key: str) -> tuple[set[str], dict[str, dict[str, str]]]:
    """The run's committed batches, and its legacy Parquet files: one listing of the run's folder."""
    run_dir = storage.path(staging_dir(run_key))
    markers: set[str] = set()
    legacy: dict[str, dict[str, str]] = {}
    for path in storage.list_tree(run_dir):
        parts = path[len(run_dir) + 1:].split("/") if path.startswith(run_dir + "/") else []
        if len(parts) != 2 or parts[1].startswith("."):  # temp files start with a dot
            continue
        folder, name = parts
        if folder == MARKER_DIR and name.endswith(MARKER_SUFFIX):
            markers.add(name[: -len(MARKER_SUFFIX)])
        elif folder in TABLES and name.endswith(LEGACY_SUFFIX):
            legacy.setdefault(name[: -len(LEGACY_SUFFIX)], {})[folder] = path
    return markers, legacy
