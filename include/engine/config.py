"""Configuration of the embedded engine: CLI flags, defaulting from CALLMINE_ENGINE_* env vars.

Security-relevant defaults (docs/security.md explains each):
- with no API key (open mode) the engine only starts on a loopback address, unless
  ``--insecure-open``; with keys (``CALLMINE_ENGINE_API_KEYS`` and/or a key file) jobs
  belong to the key's tenant and each tenant is rate limited;
- ``file://`` audio only under ``CALLMINE_ENGINE_FILE_ROOTS`` (default: none when keyed
  or exposed, the project's recordings and sample folders in the open loopback mode);
- http(s) fetches (audio, webhooks) never reach loopback/private/link-local/... addresses
  unless ``CALLMINE_ENGINE_ALLOW_PRIVATE_URLS`` or ``CALLMINE_ENGINE_ALLOWED_NETWORKS``;
- requests may only pick a model of ``CALLMINE_ENGINE_ALLOWED_MODELS`` (default: the
  configured model), and every model cache lives under the model dir (default: the data dir).

Several engines (docs/engine-scaling.md): ``CALLMINE_ENGINE_QUEUE_URL`` (postgresql://...)
makes them share one job queue, ``CALLMINE_ENGINE_STORAGE_URL`` (a shared folder or an
fsspec URL such as s3://bucket/prefix) one place for uploads and results; without them the
engine keeps its SQLite store and files in its own data dir.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PROCESSOR = "include.engine.speech.engine:transcribe_file"
MAX_ATTEMPTS = 3
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the folder holding include/
# file:// roots of the open loopback mode (no key, loopback only): the project's recordings
# folder (callmine's default source) and the shipped sample calls.
LOCAL_FILE_ROOTS = (PROJECT_ROOT / "data" / "recordings", PROJECT_ROOT / "include" / "samples")
DEFAULT_RATE_LIMIT_RPS = 50.0  # per tenant when keyed (the hosted PyAI's default)
DEFAULT_RATE_LIMIT_BURST = 100
DEFAULT_LEASE_S = 60.0  # a shared-queue claim's lifetime unless its engine renews it
MAX_JSON_BYTES = 1024 * 1024

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


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


def _optional_float(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return None
    if raw == "off":
        return 0.0
    return _float(env, name, 0.0)


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SystemExit(f"{name} must be true or false, got {raw!r}")


def _list(raw: str | None, sep: str = ",") -> tuple[str, ...]:
    return tuple(item.strip() for item in (raw or "").split(sep) if item.strip())


def parse_roots(raw: str | None) -> tuple[Path, ...] | None:
    """``CALLMINE_ENGINE_FILE_ROOTS``: os.pathsep-separated folders; None when not set at all."""
    if raw is None:
        return None
    return tuple(Path(item).expanduser() for item in _list(raw, os.pathsep))


def is_loopback_host(host: str) -> bool:
    """True only for an address that cannot be reached from another machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or "" (all interfaces): treat as exposed


@dataclass(slots=True)
class EngineConfig:
    host: str = "127.0.0.1"
    port: int = 8700
    data_dir: Path = Path("data/engine")
    # API keys. None of them and no key file = open mode (no authentication), loopback only.
    api_keys: tuple[str, ...] = ()
    api_key_file: Path | None = None  # one key per line ("KEY" or "TENANT KEY"); re-read on change
    insecure_open: bool = False  # allow open mode on a non-loopback address (experiments only)
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    model: str = "tiny.en"
    allowed_models: tuple[str, ...] | None = None  # None = the configured model only
    model_dir: Path | None = None  # None = <data_dir>/models
    public_url: str | None = None  # base of signed URLs; None = http://host:port
    webhook_secret: str | None = None  # None = generated once, persisted in the data dir
    max_upload_mb: float = 100.0
    max_json_bytes: int = MAX_JSON_BYTES
    offload_over_bytes: int = 256 * 1024
    processor: str = DEFAULT_PROCESSOR
    max_tasks_per_child: int = 50  # recycle a worker process after this many jobs
    # file:// audio_url: None = the mode's default (see file_roots_in_force); () = none.
    file_roots: tuple[Path, ...] | None = None
    # Outbound http(s) (audio_url, webhook_url): private/loopback/link-local/... refused unless
    allow_private_urls: bool = False  # loopback + private ranges (never link-local, multicast)
    allowed_networks: tuple[str, ...] = ()  # CIDRs always allowed, e.g. "10.0.5.0/24"
    fetch_connect_timeout_s: float = 10.0
    fetch_timeout_s: float = 30.0  # read timeout: longest silence of the remote server
    fetch_total_timeout_s: float = 600.0  # whole download, redirects included
    max_redirects: int = 5
    # Per-tenant token bucket: None = the mode's default (50/s, burst 100 keyed; off open); 0 = off.
    rate_limit_rps: float | None = None
    rate_limit_burst: int | None = None
    job_timeout_s: float = 1800.0  # a job still processing after this is stopped and failed
    signed_url_ttl_s: float = 3600.0
    webhook_timeout_s: float = 5.0
    webhook_attempts: int = 3
    max_attempts: int = MAX_ATTEMPTS
    list_default_limit: int = 20
    list_max_limit: int = 100
    # Several engines: one PostgreSQL queue and one storage location (docs/engine-scaling.md).
    queue_url: str | None = None  # postgresql://...; None = SQLite in the data dir (one engine)
    storage_url: str | None = None  # a shared folder / file:// / fsspec URL; None = the data dir
    instance_id: str | None = None  # this engine's name in the queue; None = "<hostname>:<port>"
    lease_s: float = DEFAULT_LEASE_S

    def instance_id_in_force(self) -> str:
        return self.instance_id or f"{socket.gethostname()}:{self.port}"

    def private_dirs(self) -> tuple[Path, ...]:
        """Folders holding jobs' audio and results (every tenant's): never readable through file://."""
        from .storage import local_root

        dirs = [self.data_dir]
        if self.storage_url and (root := local_root(self.storage_url)) is not None:
            dirs.append(root)
        return tuple(dirs)

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
        return not self.api_keys and self.api_key_file is None

    @property
    def local_open_mode(self) -> bool:
        """No key and loopback only: the single-user local mode (today's behaviour)."""
        return self.open_mode and is_loopback_host(self.host)

    def file_roots_in_force(self) -> tuple[Path, ...]:
        if self.file_roots is not None:
            return self.file_roots
        return LOCAL_FILE_ROOTS if self.local_open_mode else ()

    def models_in_force(self) -> tuple[str, ...]:
        allowed = self.allowed_models or ()
        return (self.model, *(m for m in allowed if m != self.model))

    def model_dir_in_force(self) -> Path:
        return self.model_dir if self.model_dir is not None else self.data_dir / "models"

    def rate_limit_in_force(self) -> tuple[float, int] | None:
        """(requests per second, burst) per tenant, or None when off."""
        rps = self.rate_limit_rps
        if rps is None:
            rps = 0.0 if self.open_mode else DEFAULT_RATE_LIMIT_RPS
        if rps <= 0:
            return None
        burst = self.rate_limit_burst if self.rate_limit_burst is not None else DEFAULT_RATE_LIMIT_BURST
        return rps, max(1, burst)

    def exposure_problem(self) -> str | None:
        """Why this configuration must not start, or None."""
        if self.open_mode and not is_loopback_host(self.host) and not self.insecure_open:
            return (f"refusing to listen on {self.host or 'all interfaces'!r} without an API key: anyone who can "
                    "reach it could read every job. Set CALLMINE_ENGINE_API_KEYS or --api-key-file "
                    "(CALLMINE_ENGINE_API_KEY_FILE), or listen on 127.0.0.1; --insecure-open is for experiments only")
        for network in self.allowed_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                return f"CALLMINE_ENGINE_ALLOWED_NETWORKS: {network!r} is not a network (CIDR such as 10.0.5.0/24)"
        return self.queue_problem()

    def queue_problem(self) -> str | None:
        if not self.queue_url:
            return None
        scheme = self.queue_url.split("://", 1)[0].lower() if "://" in self.queue_url else ""
        if scheme not in ("postgresql", "postgres"):
            return ("CALLMINE_ENGINE_QUEUE_URL must be a PostgreSQL URL (postgresql://user@host:5432/db); "
                    "leave it unset for the embedded SQLite store")
        if not self.storage_url:
            return ("CALLMINE_ENGINE_QUEUE_URL (a queue shared by several engines) needs CALLMINE_ENGINE_STORAGE_URL "
                    "(a folder or object store every engine reaches): an upload kept in one engine's data dir "
                    "could not be processed by another")
        if self.lease_s < 1:
            return "CALLMINE_ENGINE_LEASE_S must be at least 1 second"
        return None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineConfig:
        env = os.environ if env is None else env
        keys = _list(env.get("CALLMINE_ENGINE_API_KEYS"))
        key_file = env.get("CALLMINE_ENGINE_API_KEY_FILE", "").strip()
        models = _list(env.get("CALLMINE_ENGINE_ALLOWED_MODELS"))
        model_dir = env.get("CALLMINE_ENGINE_MODEL_DIR", "").strip()
        burst = env.get("CALLMINE_ENGINE_RATE_LIMIT_BURST", "").strip()
        return cls(
            host=env.get("CALLMINE_ENGINE_HOST", "").strip() or "127.0.0.1",
            port=_int(env, "CALLMINE_ENGINE_PORT", 8700),
            data_dir=Path(env.get("CALLMINE_ENGINE_DATA_DIR", "").strip() or "data/engine"),
            api_keys=keys,
            api_key_file=Path(key_file) if key_file else None,
            insecure_open=_bool(env, "CALLMINE_ENGINE_INSECURE_OPEN"),
            workers=max(1, _int(env, "CALLMINE_ENGINE_WORKERS", os.cpu_count() or 1)),
            model=env.get("CALLMINE_ENGINE_MODEL", "").strip() or "tiny.en",
            allowed_models=models or None,
            model_dir=Path(model_dir) if model_dir else None,
            public_url=env.get("CALLMINE_ENGINE_PUBLIC_URL", "").strip() or None,
            webhook_secret=env.get("CALLMINE_ENGINE_WEBHOOK_SECRET", "").strip() or None,
            max_upload_mb=_float(env, "CALLMINE_ENGINE_MAX_UPLOAD_MB", 100.0),
            max_json_bytes=max(1024, _int(env, "CALLMINE_ENGINE_MAX_JSON_BYTES", MAX_JSON_BYTES)),
            offload_over_bytes=_int(env, "CALLMINE_ENGINE_OFFLOAD_OVER_BYTES", 256 * 1024),
            processor=env.get("CALLMINE_ENGINE_PROCESSOR", "").strip() or DEFAULT_PROCESSOR,
            max_tasks_per_child=max(1, _int(env, "CALLMINE_ENGINE_MAX_TASKS_PER_CHILD", 50)),
            file_roots=parse_roots(env.get("CALLMINE_ENGINE_FILE_ROOTS")),
            allow_private_urls=_bool(env, "CALLMINE_ENGINE_ALLOW_PRIVATE_URLS"),
            allowed_networks=_list(env.get("CALLMINE_ENGINE_ALLOWED_NETWORKS")),
            fetch_connect_timeout_s=_float(env, "CALLMINE_ENGINE_FETCH_CONNECT_TIMEOUT_S", 10.0),
            fetch_timeout_s=_float(env, "CALLMINE_ENGINE_FETCH_TIMEOUT_S", 30.0),
            fetch_total_timeout_s=_float(env, "CALLMINE_ENGINE_FETCH_TOTAL_TIMEOUT_S", 600.0),
            max_redirects=max(0, _int(env, "CALLMINE_ENGINE_MAX_REDIRECTS", 5)),
            rate_limit_rps=_optional_float(env, "CALLMINE_ENGINE_RATE_LIMIT_RPS"),
            rate_limit_burst=_int(env, "CALLMINE_ENGINE_RATE_LIMIT_BURST", 0) if burst else None,
            job_timeout_s=_float(env, "CALLMINE_ENGINE_JOB_TIMEOUT_S", 1800.0),
            signed_url_ttl_s=_float(env, "CALLMINE_ENGINE_SIGNED_URL_TTL_S", 3600.0),
            queue_url=env.get("CALLMINE_ENGINE_QUEUE_URL", "").strip() or None,
            storage_url=env.get("CALLMINE_ENGINE_STORAGE_URL", "").strip() or None,
            instance_id=env.get("CALLMINE_ENGINE_INSTANCE_ID", "").strip() or None,
            lease_s=_float(env, "CALLMINE_ENGINE_LEASE_S", DEFAULT_LEASE_S),
        )


def _rate(raw: str) -> float:
    return 0.0 if raw.strip().lower() == "off" else float(raw)


def parse_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> EngineConfig:
    base = EngineConfig.from_env(env)
    parser = argparse.ArgumentParser(
        prog="python -m include.engine",
        description="callmine embedded speech engine (PyAI Hear async jobs dialect). "
        "Every flag defaults from its CALLMINE_ENGINE_* environment variable. See docs/security.md.",
    )
    parser.add_argument("--host", default=base.host)
    parser.add_argument("--port", type=int, default=base.port)
    parser.add_argument("--data-dir", type=Path, default=base.data_dir)
    parser.add_argument("--workers", type=int, default=base.workers)
    parser.add_argument("--model", default=base.model)
    parser.add_argument("--allowed-models", default=",".join(base.allowed_models or ()),
                        help="comma-separated models a request may pick (default: --model only)")
    parser.add_argument("--model-dir", type=Path, default=base.model_dir,
                        help="model cache (default: <data-dir>/models)")
    parser.add_argument("--public-url", default=base.public_url)
    parser.add_argument("--processor", default=base.processor, help="dotted path module:function")
    parser.add_argument("--max-upload-mb", type=float, default=base.max_upload_mb)
    parser.add_argument("--max-json-bytes", type=int, default=base.max_json_bytes)
    parser.add_argument("--offload-over-bytes", type=int, default=base.offload_over_bytes)
    parser.add_argument("--api-key-file", type=Path, default=base.api_key_file,
                        help="file of API keys, one per line ('KEY' or 'TENANT KEY'), re-read when it changes")
    parser.add_argument("--insecure-open", action="store_true", default=base.insecure_open,
                        help="allow running WITHOUT API keys on a non-loopback address (experiments only)")
    parser.add_argument("--file-roots", default=None,
                        help=f"{os.pathsep!r}-separated folders file:// audio_url may read (empty: none)")
    parser.add_argument("--allow-private-urls", action="store_true", default=base.allow_private_urls,
                        help="let audio_url/webhook_url reach loopback and private addresses")
    parser.add_argument("--allowed-networks", default=",".join(base.allowed_networks),
                        help="comma-separated CIDRs outbound fetches may always reach")
    parser.add_argument("--rate-limit-rps", type=_rate, default=base.rate_limit_rps,
                        help="per-tenant requests per second ('off' or 0 disables)")
    parser.add_argument("--rate-limit-burst", type=int, default=base.rate_limit_burst)
    parser.add_argument("--queue-url", default=base.queue_url,
                        help="PostgreSQL URL of a job queue shared by several engines (default: SQLite in the data "
                        "dir); prefer the environment variable or PGPASSWORD/PGPASSFILE for the password")
    parser.add_argument("--storage-url", default=base.storage_url,
                        help="folder or fsspec URL (s3://bucket/prefix) for uploads and results, shared by the "
                        "engines of one queue (default: the data dir)")
    parser.add_argument("--instance-id", default=base.instance_id,
                        help="this engine's name in a shared queue, unique per engine (default: hostname:port)")
    parser.add_argument("--lease-s", type=float, default=base.lease_s,
                        help="seconds a shared-queue claim lives unless renewed (renewed every third of it)")
    args = parser.parse_args(argv)
    base.host = args.host
    base.port = args.port
    base.data_dir = args.data_dir
    base.workers = max(1, args.workers)
    base.model = args.model
    base.allowed_models = _list(args.allowed_models) or None
    base.model_dir = args.model_dir
    base.public_url = args.public_url
    base.processor = args.processor
    base.max_upload_mb = args.max_upload_mb
    base.max_json_bytes = max(1024, args.max_json_bytes)
    base.offload_over_bytes = args.offload_over_bytes
    base.api_key_file = args.api_key_file
    base.insecure_open = args.insecure_open
    if args.file_roots is not None:
        base.file_roots = parse_roots(args.file_roots)
    base.allow_private_urls = args.allow_private_urls
    base.allowed_networks = _list(args.allowed_networks)
    base.rate_limit_rps = args.rate_limit_rps
    base.rate_limit_burst = args.rate_limit_burst
    base.queue_url = args.queue_url or None
    base.storage_url = args.storage_url or None
    base.instance_id = args.instance_id or None
    base.lease_s = args.lease_s
    return base
