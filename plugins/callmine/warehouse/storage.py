"""Atomic file I/O on a local folder or any fsspec URL.

Every write goes to a temporary name in the destination folder and is then renamed
onto the final name, so a reader (DuckDB globbing ``*.parquet``) never sees a
half-written file: on local disk the rename is atomic and replaces the old file in
one step; on object stores the copy behind ``mv`` is a single atomic PUT.
Temporary names end in ``.tmp`` so no ``*.parquet`` glob can ever match them.
The one exception, ``write_ipc``, writes under the final name: staged batch files,
which no reader opens before a commit marker (itself written atomically) names them.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field

import fsspec
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from callmine.object_store import filesystem

TMP_SUFFIX = ".tmp"
TMP_PREFIX = "."
ROW_GROUP_SIZE = 128 * 1024  # ~1M words/day -> 8 row groups: prunable, not tiny
COMPRESSION = "zstd"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+@:-]*$")


def check_name(kind: str, value: str) -> str:
    """Reject names that could escape their folder or collide with temp files."""
    if not _SAFE_NAME.match(value or "") or ".." in value or value.endswith(TMP_SUFFIX):
        raise ValueError(f"unsafe {kind} {value!r}: use letters, digits and . _ = + @ : -")
    return value


@dataclass
class Storage:
    """A warehouse root: ``uri`` is a local path or an fsspec URL."""

    uri: str
    # Explicit fsspec options; None = credentials from callmine.object_store (connection or
    # environment). Never in repr: they may hold a secret key.
    storage_options: dict | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.fs: fsspec.AbstractFileSystem
        self.fs, root = filesystem(self.uri, self.storage_options)
        self.root = root.rstrip("/") or "/"

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def url(self, path: str) -> str:
        """Full URI for ``path``: a plain absolute path locally, else ``proto://...``."""
        return path if self.is_local else self.fs.unstrip_protocol(path)

    @property
    def root_url(self) -> str:
        return self.url(self.root)

    # -- reads ---------------------------------------------------------------

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def read_parquet(
        self,
        path: str,
        columns: list[str] | None = None,
        filters: list[tuple] | None = None,
        only_present_columns: bool = False,
    ) -> pa.Table | None:
        """The file's table, or None if it does not exist.

        ``filters`` (pyarrow's DNF) skip row groups by their statistics; with
        ``only_present_columns`` the wanted columns the file lacks are left out instead
        of failing (files written before a column was added).
        """
        try:
            with self.fs.open(path, "rb") as f:
                if columns is not None and only_present_columns:
                    present = set(pq.read_schema(f).names)
                    columns = list(dict.fromkeys(name for name in columns if name in present))
                    f.seek(0)
                return pq.read_table(f, columns=columns, filters=filters)
        except FileNotFoundError:
            return None

    def read_bytes(self, path: str) -> bytes | None:
        """The file's content, or None if it does not exist."""
        try:
            with self.fs.open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def read_ipc(self, path: str) -> pa.Table | None:
        """An Arrow IPC file's table, or None if it does not exist.

        Read into memory, not memory-mapped: a mapped file that another host replaces or
        deletes on a shared network mount kills the reader (SIGBUS), and the copy costs
        about 50 ms per million staged words (one read into one buffer, no decoding). The
        buffer comes from the default pool, which the stage and load tasks make the system
        allocator (``callmine.arrow_memory`` says why).
        """
        try:
            if self.is_local:
                with pa.OSFile(path, "rb") as f:
                    content = f.read_buffer()  # one read; the table references this buffer
            else:
                with self.fs.open(path, "rb") as f:
                    content = pa.py_buffer(f.read())  # one GET
            return ipc.open_file(content).read_all()
        except FileNotFoundError:
            return None

    def list_files(self, folder: str, suffix: str = "") -> list[str]:
        """Sorted file paths directly in ``folder`` (empty if it does not exist)."""
        try:
            entries = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return []
        return sorted(e["name"] for e in entries if e["type"] == "file" and e["name"].endswith(suffix))

    def list_dirs(self, folder: str) -> list[str]:
        """Sorted folder paths directly in ``folder`` (empty if it does not exist)."""
        try:
            entries = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return []
        return sorted(e["name"].rstrip("/") for e in entries if e["type"] == "directory")

    def list_tree(self, folder: str, suffix: str = "") -> list[str]:
        """Sorted file paths anywhere under ``folder``: one listing on object stores."""
        try:
            return sorted(p for p in self.fs.find(folder) if p.endswith(suffix))
        except FileNotFoundError:
            return []

    # -- writes --------------------------------------------------------------

    def temp_path(self, final: str) -> str:
        folder, _, name = final.rpartition("/")
        return f"{folder}/{TMP_PREFIX}{name}.{uuid.uuid4().hex}{TMP_SUFFIX}"

    def write_parquet_temp(self, final: str, table: pa.Table) -> str:
        """Write ``table`` next to ``final`` under a temporary name; return that name."""
        # Dictionary-encode text only: ids, speakers and words repeat; times and
        # scores rarely do, and trying them costs time for nothing (BENCHMARKS.md).
        text_columns = [f.name for f in table.schema if pa.types.is_string(f.type)]
        return self._write_temp(final, lambda f: pq.write_table(
            table, f, compression=COMPRESSION, row_group_size=ROW_GROUP_SIZE, use_dictionary=text_columns,
        ))

    def write_ipc(self, path: str, table: pa.Table, compression: str | None = None) -> None:
        """Write an Arrow IPC file straight under its final name (flushed to disk locally).

        Not atomic: only for a file no reader opens before a later atomic write names it
        (a staged batch's commit marker, ``staging.py``); one PUT on object stores.
        """
        self._write(path, _ipc_writer(table, compression))

    def write_bytes_temp(self, final: str, content: bytes) -> str:
        return self._write_temp(final, lambda f: f.write(content))

    def commit(self, temp: str, final: str) -> None:
        """Publish a temp file under its final name (replaces any previous file)."""
        self.fs.mv(temp, final)

    def write_parquet_atomic(self, final: str, table: pa.Table) -> None:
        self.commit(self.write_parquet_temp(final, table), final)

    def write_bytes_atomic(self, final: str, content: bytes) -> None:
        self.commit(self.write_bytes_temp(final, content), final)

    def remove(self, path: str) -> bool:
        """Delete a file if present; True if something was deleted."""
        try:
            self.fs.rm_file(path)
            return True
        except FileNotFoundError:
            return False

    def remove_tree(self, folder: str) -> None:
        if self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)

    def remove_stale_temps(self, folder: str) -> int:
        """Delete temp files a crashed writer left behind (caller owns ``folder``)."""
        stale = [p for p in self.list_files(folder, TMP_SUFFIX) if p.rpartition("/")[2].startswith(TMP_PREFIX)]
        for path in stale:
            self.remove(path)
        return len(stale)

    def _write_temp(self, final: str, write) -> str:
        temp = self.temp_path(final)
        self._write(temp, write)
        return temp

    def _write(self, path: str, write) -> None:
        """``write(file)`` into ``path``; on failure nothing is left under ``path``."""
        self.fs.makedirs(path.rpartition("/")[0], exist_ok=True)
        try:
            if self.is_local:
                # A native file: pyarrow writes its buffers without a Python call each.
                with pa.OSFile(path, "wb") as f:
                    write(f)
                # Without fsync a power cut after the rename (or the commit naming the file)
                # can leave an empty file.
                _fsync(path)
            else:
                with self.fs.open(path, "wb") as f:
                    write(f)
        except BaseException:
            self.remove(path)
            raise


def _ipc_writer(table: pa.Table, compression: str | None):
    options = ipc.IpcWriteOptions(compression=compression)

    def write(sink) -> None:
        with ipc.new_file(sink, table.schema, options=options) as writer:
            writer.write_table(table)
    return write


def _fsync(path: str) -> None:
    """Flush a closed local file to disk (see ``_write_temp``: rename after fsync)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
