"""Configuration of the embedded engine: CLI flags, defaulting from CALLMINE_ENGINE_* env vars."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PROCESSOR = "include.engine.speech.engine:transcribe_file"
MAX_ATTEMPTS = 3


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


@dataclass(slots=True)
class EngineConfig:
    host: str = "127.0.0.1"
    port: int = 8700
    data_dir: Path = Path("data/engine")
    # Empty = open mode (no authentication), for local use.
    api_keys: tuple[str, ...] = ()
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    model: str = "tiny.en"
    public_url: str | None = None  # base of signed URLs; None = http://host:port
    webhook_secret: str | None = None  # None = generated once, persisted in the data dir
    max_upload_mb: float = 100.0
    offload_over_bytes: int = 256 * 1024
    processor: str = DEFAULT_PROCESSOR
    max_tasks_per_child: int = 50  # recycle a worker process after this many jobs
    fetch_timeout_s: float = 30.0
    job_timeout_s: float = 1800.0  # a job still processing after this is stopped and failed
    signed_url_ttl_s: float = 3600.0
    webhook_timeout_s: float = 5.0
    webhook_attempts: int = 3
    max_attempts: int = MAX_ATTEMPTS
    list_default_limit: int = 20
    list_max_limit: int = 100

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def open_mode(self) -> bool:
        return not self.api_keys

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineConfig:
        env = os.environ if env is None else env
        keys = tuple(k.strip() for k in env.get("CALLMINE_ENGINE_API_KEYS", "").split(",") if k.strip())
        return cls(
            host=env.get("CALLMINE_ENGINE_HOST", "").strip() or "127.0.0.1",
            port=_int(env, "CALLMINE_ENGINE_PORT", 8700),
            data_dir=Path(env.get("CALLMINE_ENGINE_DATA_DIR", "").strip() or "data/engine"),
            api_keys=keys,
            workers=max(1, _int(env, "CALLMINE_ENGINE_WORKERS", os.cpu_count() or 1)),
            model=env.get("CALLMINE_ENGINE_MODEL", "").strip() or "tiny.en",
            public_url=env.get("CALLMINE_ENGINE_PUBLIC_URL", "").strip() or None,
            webhook_secret=env.get("CALLMINE_ENGINE_WEBHOOK_SECRET", "").strip() or None,
            max_upload_mb=_float(env, "CALLMINE_ENGINE_MAX_UPLOAD_MB", 100.0),
            offload_over_bytes=_int(env, "CALLMINE_ENGINE_OFFLOAD_OVER_BYTES", 256 * 1024),
            processor=env.get("CALLMINE_ENGINE_PROCESSOR", "").strip() or DEFAULT_PROCESSOR,
            max_tasks_per_child=max(1, _int(env, "CALLMINE_ENGINE_MAX_TASKS_PER_CHILD", 50)),
            fetch_timeout_s=_float(env, "CALLMINE_ENGINE_FETCH_TIMEOUT_S", 30.0),
            job_timeout_s=_float(env, "CALLMINE_ENGINE_JOB_TIMEOUT_S", 1800.0),
            signed_url_ttl_s=_float(env, "CALLMINE_ENGINE_SIGNED_URL_TTL_S", 3600.0),
        )


def parse_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> EngineConfig:
    base = EngineConfig.from_env(env)
    parser = argparse.ArgumentParser(
        prog="python -m include.engine",
        description="callmine embedded speech engine (PyAI Hear async jobs dialect). "
        "Every flag defaults from its CALLMINE_ENGINE_* environment variable.",
    )
    parser.add_argument("--host", default=base.host)
    parser.add_argument("--port", type=int, default=base.port)
    parser.add_argument("--data-dir", type=Path, default=base.data_dir)
    parser.add_argument("--workers", type=int, default=base.workers)
    parser.add_argument("--model", default=base.model)
    parser.add_argument("--public-url", default=base.public_url)
    parser.add_argument("--processor", default=base.processor, help="dotted path module:function")
    parser.add_argument("--max-upload-mb", type=float, default=base.max_upload_mb)
    parser.add_argument("--offload-over-bytes", type=int, default=base.offload_over_bytes)
    args = parser.parse_args(argv)
    base.host = args.host
    base.port = args.port
    base.data_dir = args.data_dir
    base.workers = max(1, args.workers)
    base.model = args.model
    base.public_url = args.public_url
    base.processor = args.processor
    base.max_upload_mb = args.max_upload_mb
    base.offload_over_bytes = args.offload_over_bytes
    return base
