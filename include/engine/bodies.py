"""Request bodies read under limits, counted while they stream (chunked bodies included).

``read_limited`` buffers at most ``limit`` bytes; ``read_multipart`` streams one file part
straight to its final place under the data dir (hashing it on the way) and keeps only the
small text fields in memory. Past a limit both stop reading at once and answer 413 with
``Connection: close``: the server closes the connection after the answer instead of
draining (reading and discarding) the rest of the body.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request

from .problems import ProblemError, invalid

CLOSE = {"Connection": "close"}
MAX_FIELD_BYTES = 64 * 1024  # one text field of a form
MAX_FIELDS = 100
_FLUSH = 1024 * 1024


def mb(size: float) -> str:
    return f"{size / 1048576:.1f} MB"


def body_too_large(what: str, limit: int) -> ProblemError:
    return ProblemError(413, "payload_too_large", f"{what} too large: more than the {mb(limit)} limit", dict(CLOSE))


def audio_too_large(limit: int, size: int | None = None) -> ProblemError:
    """The 413 of an upload: its size when known (Content-Length), else 'more than the limit'."""
    if size is not None:
        return ProblemError(413, "payload_too_large", f"audio too large ({mb(size)} > {mb(limit)} limit)", dict(CLOSE))
    return ProblemError(413, "payload_too_large", f"audio too large: more than the {mb(limit)} limit", dict(CLOSE))


def declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length", "")
    return int(raw) if raw.isdigit() else None


async def read_limited(request: Request, limit: int, what: str) -> bytes:
    """The whole body, or 413 as soon as more than ``limit`` bytes arrived (Content-Length or not)."""
    length = declared_length(request)
    if length is not None and length > limit:
        raise body_too_large(what, limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            if len(body) + len(chunk) > limit:
                raise body_too_large(what, limit)
            body += chunk
    except ClientDisconnect:
        raise invalid("the client disconnected before the end of the body") from None
    return bytes(body)


@dataclass(slots=True)
class StoredFile:
    field: str
    filename: str
    path: Path
    size: int
    sha256: str


@dataclass(slots=True)
class Form:
    fields: FormData  # text fields only
    file: StoredFile | None

    def discard(self) -> None:
        if self.file is not None:
            self.file.path.unlink(missing_ok=True)


class _Collector:
    """python-multipart callbacks: text fields in memory (bounded), the one file part to disk."""

    def __init__(self, file_field: str, target: Path, max_file_bytes: int) -> None:
        self.file_field, self.target, self.max_file_bytes = file_field, target, max_file_bytes
        self.fields: list[tuple[str, str]] = []
        self.file: StoredFile | None = None
        self.out: IO[bytes] | None = None
        self.digest = hashlib.sha256()
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.ended = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._name, self._value = b"", b""
        self._field: str | None = None
        self._data = bytearray()
        self._in_file = False

    def on_part_begin(self) -> None:
        self._headers, self._field, self._data, self._in_file = [], None, bytearray(), False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers.append((self._name.lower(), self._value))
        self._name, self._value = b"", b""

    def on_headers_finished(self) -> None:
        disposition = next((v for k, v in self._headers if k == b"content-disposition"), b"")
        _, options = parse_options_header(disposition)
        if b"name" not in options:
            raise invalid("malformed multipart body: a part has no name")
        name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            if name != self.file_field or self.file is not None:
                raise invalid(f"unexpected file part {name!r}: send one file part named {self.file_field!r}")
            filename = os.path.basename(options[b"filename"].decode("utf-8", "replace").replace("\\", "/"))
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.out = self.target.open("wb")
            self.file = StoredFile(name, filename, self.target, 0, "")
            self._in_file = True
        else:
            if len(self.fields) >= MAX_FIELDS:
                raise invalid(f"too many form fields (more than {MAX_FIELDS})")
            self._field = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if self._in_file:
            assert self.file is not None
            if self.file.size + len(piece) > self.max_file_bytes:
                raise audio_too_large(self.max_file_bytes)  # nothing past the limit is written
            self.file.size += len(piece)
            self.pending.append(piece)
            self.pending_size += len(piece)
        else:
            if len(self._data) + len(piece) > MAX_FIELD_BYTES:
                raise ProblemError(413, "payload_too_large",
                                   f"form field {self._field!r} larger than {MAX_FIELD_BYTES // 1024} KB", dict(CLOSE))
            self._data += piece

    def on_part_end(self) -> None:
        if not self._in_file and self._field is not None:
            self.fields.append((self._field, self._data.decode("utf-8", "replace")))

    def on_end(self) -> None:
        self.ended = True

    async def flush(self, force: bool = False) -> None:
        if self.out is None or not self.pending or (self.pending_size < _FLUSH and not force):
            return
        data = b"".join(self.pending)
        self.pending, self.pending_size = [], 0
        self.digest.update(data)
        await asyncio.to_thread(self.out.write, data)

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


async def read_multipart(request: Request, *, file_field: str, upload_dir: Path, max_file_bytes: int,
                         overhead: int) -> Form:
    """Parse a multipart body while it streams; at most one file part (named ``file_field``).

    The file goes to ``upload_dir/upload_<random>.part``; the caller owns it (``Form.discard``).
    413 once the file passes ``max_file_bytes`` or the body ``max_file_bytes + overhead``.
    """
    max_body = max_file_bytes + overhead
    length = declared_length(request)
    if length is not None and length > max_body:
        raise audio_too_large(max_file_bytes, length)
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise invalid("malformed multipart body: no boundary")
    collector = _Collector(file_field, upload_dir / f"upload_{secrets.token_hex(8)}.part", max_file_bytes)
    callbacks = {name: getattr(collector, name) for name in (
        "on_part_begin", "on_part_data", "on_part_end", "on_header_field", "on_header_value", "on_header_end",
        "on_headers_finished", "on_end")}
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        received = 0
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > max_body:
                    raise audio_too_large(max_file_bytes)
                parser.write(chunk)
                await collector.flush()
        except ClientDisconnect:
            raise invalid("the client disconnected before the end of the body") from None
        parser.finalize()
        if not collector.ended:
            raise invalid("malformed multipart body: it ends before its closing boundary")
        await collector.flush(force=True)
        collector.close()
    except BaseException as exc:
        collector.close()
        collector.target.unlink(missing_ok=True)
        if isinstance(exc, FormParserError):
            raise invalid("malformed multipart body") from None
        raise
    stored = collector.file
    if stored is not None:
        stored.sha256 = collector.digest.hexdigest()
    return Form(FormData(collector.fields), stored)
