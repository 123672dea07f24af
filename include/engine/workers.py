"""Worker processes: the CPU work runs outside the web process.

Each dispatcher slot owns one long-lived `spawn` process talking over a Pipe, so a crash is
blamed on exactly the job that was running in it (a ProcessPoolExecutor breaks as a whole).
Workers are recycled after `max_tasks_per_child` jobs and terminated on shutdown.

The worker probes the audio with PyAV (empty / undecodable / unsupported codec become clear
job errors), calls the configured processor `module:function(path, options)`, and writes
the result files itself: only a small summary crosses the pipe.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import multiprocessing
import os
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .results import to_srt, to_vtt
from .speech.models import MODEL_DIR_ENV  # where speech/models.py caches models (default_cache_dir)

_CTX = multiprocessing.get_context("spawn")


class JobError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- inside the worker process ----------------------------------------------------------


def resolve(dotted: str) -> Any:
    module_name, _, attr = dotted.partition(":")
    if not attr:
        module_name, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def build_options(processor: Any, options: dict[str, Any]) -> Any:
    module = importlib.import_module(processor.__module__)
    cls = getattr(module, "JobOptions", None)
    if cls is None:  # the speech core's options; its light module, not the model-loading facade
        from .speech.options import JobOptions as cls
    if not dataclasses.is_dataclass(cls):
        return cls(**options)
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in options.items() if k in names})


def probe(path: str) -> float:
    """Audio duration in seconds; JobError for anything a processor could not use.

    Reads the header and decodes one frame only: the processor decodes the whole file
    anyway, and a second full decode here would double the work of every job.
    """
    import av  # imported in the worker only

    if os.path.getsize(path) == 0:
        raise JobError("audio_empty", "audio is empty")
    try:
        container = av.open(path)
    except Exception as exc:  # av raises many FFmpeg error subclasses
        raise JobError("audio_decode_failed", f"could not decode audio: {exc}") from None
    with container:
        if not container.streams.audio:
            raise JobError("audio_decode_failed", "could not decode audio: no audio stream")
        stream = container.streams.audio[0]
        codec = getattr(stream.codec_context, "name", None)
        if not codec or codec == "none":
            raise JobError("unsupported_codec", "unsupported codec")
        try:
            first = next(container.decode(stream), None)
        except Exception as exc:
            raise JobError("audio_decode_failed", f"could not decode audio: {exc}") from None
        if first is None or not first.samples:
            raise JobError("audio_empty", "audio is empty")
        if container.duration:
            return container.duration / av.time_base
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        ticks = sum(packet.duration or 0 for packet in container.demux(stream))  # demux only, no decode
        return float(ticks * stream.time_base) if stream.time_base else 0.0


def execute(task: dict[str, Any]) -> dict[str, Any]:
    """One job: probe, process, write result files. Returns a small summary."""
    if task.get("model_dir"):
        # This process belongs to one engine: its model caches go to that engine's model dir
        # (default <data-dir>/models), never to a folder outside it.
        os.environ[MODEL_DIR_ENV] = task["model_dir"]
    try:
        seconds = probe(task["audio_path"])
        processor = resolve(task["processor"])
        outcome = processor(task["audio_path"], build_options(processor, task["options"]))
    except JobError as exc:
        return {"ok": False, "code": exc.code, "message": exc.message}
    except Exception as exc:
        traceback.print_exc()
        return _failure(exc)
    if isinstance(outcome, dict):
        document, subtitles = outcome, {}
    else:
        document, subtitles = outcome.document, dict(getattr(outcome, "subtitles", None) or {})
    document = dict(document)
    document.pop("formats", None)  # signed URLs are added per request
    document.setdefault("audio_seconds", round(seconds, 3))
    out_dir = Path(task["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    formats = []
    for kind, render in (("srt", to_srt), ("vtt", to_vtt)):
        if kind in task["options"]["output_formats"]:
            body = subtitles.get(kind) or render(document.get("segments") or [])
            (out_dir / f"result.{kind}").write_text(body, encoding="utf-8")
            formats.append(kind)
    payload = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    tmp = out_dir / "result.json.tmp"
    tmp.write_bytes(payload)
    tmp.replace(out_dir / "result.json")
    return {"ok": True, "audio_seconds": float(document["audio_seconds"]), "result_bytes": len(payload),
            "formats": formats}


def _failure(exc: Exception) -> dict[str, Any]:
    """Map the speech core's known exceptions to stable codes; anything else is processing_failed."""
    name, text = type(exc).__name__, str(exc)
    if name == "AudioError":
        if text.startswith(("could not decode audio", "audio is empty", "unsupported codec")):
            return {"ok": False, "code": "audio_decode_failed", "message": text}
        return {"ok": False, "code": "audio_decode_failed", "message": f"could not decode audio: {text}"}
    if name == "DiarizationUnavailable":
        return {"ok": False, "code": "diarization_unavailable", "message": text}
    return {"ok": False, "code": "processing_failed", "message": f"processing failed: {name}: {text}"}


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the engine that spawned it dies.

    A killed engine (SIGKILL, OOM) cannot stop its workers; an orphan would go on processing
    a job that the queue hands to another engine once the dead engine's lease expires."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # the engine died before prctl
        os._exit(1)


def worker_main(conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    _die_with_parent()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        conn.send(execute(task))


# --- in the web process -------------------------------------------------------------------


class Worker:
    """One slot's worker process, spawned lazily, replaced after a crash or N tasks."""

    def __init__(self, max_tasks: int) -> None:
        self.max_tasks = max_tasks
        self.process: Any = None
        self.conn: Connection | None = None
        self.tasks_done = 0

    def _spawn(self) -> None:
        parent, child = _CTX.Pipe()
        process = _CTX.Process(target=worker_main, args=(child,), daemon=True, name="callmine-engine-worker")
        process.start()
        child.close()
        self.process, self.conn, self.tasks_done = process, parent, 0

    async def run(self, task: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        """Process one task; a worker that crashes or overruns ``timeout_s`` is replaced."""
        if self.process is None or not self.process.is_alive():
            self.stop()
            self._spawn()
        assert self.conn is not None
        conn = self.conn
        conn.send(task)
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = conn.fileno()
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await asyncio.wait_for(ready, timeout_s)
        except TimeoutError:
            self.stop()  # a hung decode would hold this slot forever
            return {"ok": False, "code": "processing_timeout",
                    "message": f"processing took longer than {timeout_s:.0f} s; the worker was stopped"}
        finally:
            loop.remove_reader(fd)
        try:
            result = conn.recv()
        except (EOFError, OSError):
            self.process.join(timeout=2)
            code = self.process.exitcode
            self.stop()
            return {"ok": False, "code": "worker_crashed",
                    "message": f"worker process crashed while processing the audio (exit code {code})"}
        self.tasks_done += 1
        if self.tasks_done >= self.max_tasks:
            self.stop(graceful=True)
        return result

    def stop(self, graceful: bool = False) -> None:
        process, conn = self.process, self.conn
        self.process, self.conn = None, None
        if conn is not None:
            if graceful:
                try:
                    conn.send(None)
                except OSError:
                    pass
            conn.close()
        if process is not None:
            if graceful:
                process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=2)
