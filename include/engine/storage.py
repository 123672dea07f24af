"""Where uploads and results live: the engine's data dir (default) or a storage location shared by engines.

Three shapes behind one small async interface:

- ``LocalStorage.data_dir(data_dir)`` (the default, no ``CALLMINE_ENGINE_STORAGE_URL``):
  exactly the single-engine layout of before. Uploads are renamed to
  ``<data-dir>/audio/<job>_<name>`` and the job row keeps that absolute path; the worker
  writes its result files straight into ``<data-dir>/results/<job>/``.
- ``LocalStorage.shared(root, data_dir)`` (a directory: ``<shared-dir>`` or
  ``file://<shared-dir>``, typically an NFS/EFS mount or a volume every engine
  mounts): uploads go to ``<root>/audio/<job>_<name>`` and the job row keeps the relative
  key ``audio/<job>_<name>`` (hosts may mount the folder at different paths); the worker
  writes into a private work dir of the engine that runs the job (the ``work``
  folder of its data dir, one ``<job>.<attempt>`` folder per run) and the engine
  publishes the files to ``<root>/results/<job>/`` (temporary name, then rename)
  before it marks the job completed. A worker orphaned by a dead engine can therefore never write into the shared
  results of a job another engine took over.
- ``FsspecStorage(url, data_dir)`` (any other URL fsspec knows: ``s3://bucket/prefix`` with
  s3fs, ``gs://``...; credentials from the environment, e.g. the standard AWS variables
  and ``AWS_ENDPOINT_URL``): the same layout as objects. An upload is put to the store; the
  engine that runs the job copies it to ``<data-dir>/audio/<job>.download`` for the worker
  (PyAV needs a local file) and deletes that copy afterwards; results are put from the
  work dir; reads are ``cat``. Network calls run in a thread, never on the event loop.

Every job's input is deleted once the job ends; results are kept (as before).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

RESULT_NAMES = {"result": "result.json", "srt": "result.srt", "vtt": "result.vtt"}


def result_name(kind: str) -> str:
    return RESULT_NAMES[kind]


def local_root(url: str) -> Path | None:
    """The folder of a storage URL that names a local directory (a path or file://), else None."""
    parts = urlsplit(url)
    if not parts.scheme or (len(parts.scheme) == 1 and os.name == "nt"):
        return Path(url).expanduser()
    if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
        return Path(unquote(parts.path))
    return None


def redact_url(url: str) -> str:
    """A URL without its password (for logs and the ready line)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


class Storage:
    """Uploads and results of jobs; see the module docstring for the three shapes."""

    kind = "base"
    shared = False  # a location other engines may read (uploads and results keyed relative to it)

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.work_root = data_dir / "work"

    def describe(self) -> str:
        raise NotImplementedError

    async def put_audio(self, src: Path, name: str) -> str:
        """Store an upload (a local file the caller gives away) as ``audio/<name>``; the reference to keep."""
        raise NotImplementedError

    async def local_audio(self, ref: str, scratch: Path) -> Path | None:
        """A local file with the audio of ``ref`` (``scratch`` if it had to be copied), None if it is gone."""
        raise NotImplementedError

    async def drop_audio(self, ref: str) -> None:
        raise NotImplementedError

    def work_dir(self, job_id: str, attempt: int) -> Path:
        """Where the worker writes the result files of this attempt."""
        return self.work_root / f"{job_id}.{attempt}"

    async def publish(self, job_id: str, work_dir: Path) -> None:
        """Make the files the worker wrote readable as the job's results (before the job is marked completed)."""
        raise NotImplementedError

    async def discard(self, job_id: str, work_dir: Path) -> None:
        """Forget what a failed or abandoned attempt wrote."""
        await asyncio.to_thread(shutil.rmtree, work_dir, True)

    async def read(self, job_id: str, kind: str) -> str:
        raise NotImplementedError

    def private_dirs(self) -> tuple[Path, ...]:
        """Local folders holding other tenants' audio and results: never readable through file://."""
        return ()

    def clean_local_leftovers(self) -> None:
        """At start: remove what a killed previous life of this engine left in its own data dir."""
        shutil.rmtree(self.work_root, ignore_errors=True)


class LocalStorage(Storage):
    kind = "local"

    def __init__(self, root: Path, data_dir: Path, *, shared: bool) -> None:
        super().__init__(data_dir)
        self.root = root
        self.shared = shared
        (root / "audio").mkdir(parents=True, exist_ok=True)
        (root / "results").mkdir(parents=True, exist_ok=True)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> LocalStorage:
        return cls(data_dir, data_dir, shared=False)

    @classmethod
    def shared_dir(cls, root: Path, data_dir: Path) -> LocalStorage:
        return cls(root, data_dir, shared=True)

    def describe(self) -> str:
        return str(self.root)

    def _path(self, ref: str) -> Path:
        return Path(ref) if os.path.isabs(ref) else self.root / ref

    def result_dir(self, job_id: str) -> Path:
        return self.root / "results" / job_id

    async def put_audio(self, src: Path, name: str) -> str:
        final = self.root / "audio" / name
        if not self.shared:
            src.replace(final)  # same folder tree: a rename (no await: submit stays atomic on the loop)
            return str(final)
        await asyncio.to_thread(_move_into, src, final)
        return f"audio/{name}"

    async def local_audio(self, ref: str, scratch: Path) -> Path | None:
        path = self._path(ref)
        return path if path.exists() else None

    async def drop_audio(self, ref: str) -> None:
        self._path(ref).unlink(missing_ok=True)

    def work_dir(self, job_id: str, attempt: int) -> Path:
        if not self.shared:
            return self.result_dir(job_id)  # the single-engine layout: the worker writes in place
        return super().work_dir(job_id, attempt)

    async def publish(self, job_id: str, work_dir: Path) -> None:
        if not self.shared:
            return
        await asyncio.to_thread(self._publish, job_id, work_dir)

    def _publish(self, job_id: str, work_dir: Path) -> None:
        target = self.result_dir(job_id)
        target.mkdir(parents=True, exist_ok=True)
        for item in sorted(work_dir.iterdir(), key=lambda p: p.name == "result.json"):  # result.json last
            if item.is_file() and not item.name.endswith(".tmp"):
                _move_into(item, target / item.name)
        shutil.rmtree(work_dir, ignore_errors=True)

    async def discard(self, job_id: str, work_dir: Path) -> None:
        shutil.rmtree(work_dir, ignore_errors=True)  # as before: a failed job keeps no result files

    async def read(self, job_id: str, kind: str) -> str:
        return (self.result_dir(job_id) / result_name(kind)).read_text(encoding="utf-8")

    def private_dirs(self) -> tuple[Path, ...]:
        return (self.root,) if self.shared else ()

    def clean_local_leftovers(self) -> None:
        if self.shared:
            super().clean_local_leftovers()


def _move_into(src: Path, final: Path) -> None:
    """Move a file into place atomically for readers: copy under a temporary name if needed, then rename."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
    try:
        os.replace(src, tmp)
    except OSError:  # another file system (an NFS mount): copy, then drop the source
        shutil.copyfile(src, tmp)
        src.unlink(missing_ok=True)
    os.replace(tmp, final)


class FsspecStorage(Storage):
    """Uploads and results as objects of an fsspec file system (``s3://bucket/prefix`` ...)."""

    kind = "fsspec"
    shared = True

    def __init__(self, url: str, data_dir: Path, **storage_options: Any) -> None:
        super().__init__(data_dir)
        import fsspec

        self.url = url
        self.fs, root = fsspec.core.url_to_fs(url, **storage_options)
        self.root = root.rstrip("/")
        self.scratch = data_dir / "audio"
        self.scratch.mkdir(parents=True, exist_ok=True)

    def describe(self) -> str:
        return redact_url(self.url)

    def _key(self, ref: str) -> str:
        return f"{self.root}/{ref.lstrip('/')}"

    async def put_audio(self, src: Path, name: str) -> str:
        ref = f"audio/{name}"
        await asyncio.to_thread(self.fs.put_file, str(src), self._key(ref))
        src.unlink(missing_ok=True)
        return ref

    async def local_audio(self, ref: str, scratch: Path) -> Path | None:
        try:
            await asyncio.to_thread(self.fs.get_file, self._key(ref), str(scratch))
        except FileNotFoundError:
            scratch.unlink(missing_ok=True)
            return None
        return scratch

    async def drop_audio(self, ref: str) -> None:
        try:
            await asyncio.to_thread(self.fs.rm_file, self._key(ref))
        except FileNotFoundError:
            pass

    async def publish(self, job_id: str, work_dir: Path) -> None:
        def put() -> None:
            for item in sorted(work_dir.iterdir(), key=lambda p: p.name == "result.json"):
                if item.is_file() and not item.name.endswith(".tmp"):
                    self.fs.put_file(str(item), self._key(f"results/{job_id}/{item.name}"))
            shutil.rmtree(work_dir, ignore_errors=True)

        await asyncio.to_thread(put)

    async def read(self, job_id: str, kind: str) -> str:
        data = await asyncio.to_thread(self.fs.cat_file, self._key(f"results/{job_id}/{result_name(kind)}"))
        return data.decode("utf-8")


def open_storage(url: str | None, data_dir: Path) -> Storage:
    """The storage of ``CALLMINE_ENGINE_STORAGE_URL`` (None: the data dir, the single-engine default)."""
    if not url:
        return LocalStorage.in_data_dir(data_dir)
    root = local_root(url)
    if root is not None:
        return LocalStorage.shared_dir(root, data_dir)
    return FsspecStorage(url, data_dir)
