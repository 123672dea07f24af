"""A real PostgreSQL server for tests, started as a process from the Debian packages (no Docker).

    server = start_postgres(tmp_path)          # initdb in a temp dir, start, wait until ready
    url = server.create_database("queue")      # postgresql://postgres@127.0.0.1:PORT/queue
    ...
    server.stop()                              # or `with start_postgres(tmp_path) as server:`

- Binaries: the newest ``/usr/lib/postgresql/<version>/bin`` (Debian's layout), else
  ``pg_config --bindir``, else ``initdb`` on PATH. Missing and root with apt-get: installs
  ``postgresql`` (``apt-get install -y``, after an ``apt-get update`` if the first try fails).
  Otherwise ``PostgresUnavailable`` says what to install; tests turn it into a skip.
- PostgreSQL refuses to run as root: as root the cluster belongs to the ``postgres`` system
  user (created by the Debian package) and the server runs as that user (``subprocess`` with
  ``user=``); pg tools run the same way. If ``base_dir`` is not reachable by that user (pytest's
  ``/tmp/pytest-of-root`` is mode 0700) the cluster goes to a fresh temp folder instead,
  removed by ``stop()``.
- Fast and disposable: ``initdb --no-sync``, ``fsync=off``, ``synchronous_commit=off``,
  ``full_page_writes=off``; trust authentication, listening on 127.0.0.1 only (a free port)
  and on a unix socket in the cluster folder when its path is short enough.
- The server is the child process itself (no pg_ctl daemon): ``stop()`` sends SIGINT (fast
  shutdown) and waits; an ``atexit`` hook stops servers a test forgot.

Only the standard library: the Airflow deployment tests import this too.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["PostgresServer", "PostgresUnavailable", "find_bin_dir", "start_postgres"]

SUPERUSER = "postgres"
SYSTEM_USER = "postgres"  # the Debian package's account; the server runs as it when we are root
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes with ".s.PGSQL.<port>" appended
_RUNNING: list[PostgresServer] = []


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be installed or started here; the message says why and what to do."""


def find_bin_dir() -> Path | None:
    """Where initdb/postgres/pg_isready live, or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if candidates:
        return Path(candidates[-1]).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            bindir = ""
        if bindir and (Path(bindir) / "initdb").exists():
            return Path(bindir)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _install() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
    print("callmine tests: PostgreSQL is missing; installing it: " + " ".join(command), flush=True)
    if subprocess.run(command, env=env, capture_output=True).returncode == 0:
        return
    subprocess.run(["apt-get", "update"], env=env, capture_output=True)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise PostgresUnavailable(f"`{' '.join(command)}` failed: {result.stderr.strip()[-500:]}")


def ensure_installed() -> Path:
    """The PostgreSQL bin dir, installing the Debian package when root; PostgresUnavailable otherwise."""
    bin_dir = find_bin_dir()
    if bin_dir is not None:
        return bin_dir
    if os.geteuid() == 0 and shutil.which("apt-get"):
        _install()
        bin_dir = find_bin_dir()
        if bin_dir is not None:
            return bin_dir
        raise PostgresUnavailable("installed the postgresql package but found no initdb under /usr/lib/postgresql")
    raise PostgresUnavailable(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH) and this process "
        "cannot install it (apt-get needs root). Install it with `sudo apt-get install -y postgresql`."
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    """A running test server; ``url``/``dsn`` point at its ``postgres`` database."""

    bin_dir: Path
    cluster_dir: Path  # holds data/ (PGDATA), the socket and server.log
    port: int
    host: str = "127.0.0.1"
    run_as: str | None = None  # the system user the server runs as (when started by root)
    owns_cluster_dir: bool = False  # a temp folder outside base_dir: removed by stop()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    socket_dir: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.cluster_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.cluster_dir / "server.log"

    def url_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        """libpq URL of the ``postgres`` database (superuser, trust auth, loopback)."""
        return self.url_for("postgres")

    @property
    def dsn(self) -> str:
        """The same as key=value (``psycopg.connect(server.dsn)``)."""
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname=postgres"

    # --- running pg tools -------------------------------------------------------------------

    def _run(self, tool: str, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return _run_as([str(self.bin_dir / tool), *args], self.run_as, check=check, timeout=timeout)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with psql as the superuser; its output (tuples only, unaligned)."""
        result = self._run("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", str(self.port),
                           "-U", SUPERUSER, "-d", database, "-c", sql)
        return result.stdout

    def create_database(self, name: str) -> str:
        """Create database ``name`` (owned by the superuser); its URL."""
        self._run("createdb", "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, name)
        return self.url_for(name)

    def is_ready(self) -> bool:
        result = self._run("pg_isready", "-q", "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, check=False,
                           timeout=10)
        return result.returncode == 0

    # --- lifecycle --------------------------------------------------------------------------

    def stop(self, timeout_s: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: roll back open transactions, stop
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self.owns_cluster_dir:
            shutil.rmtree(self.cluster_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _run_as(argv: list[str], user: str | None, *, check: bool, timeout: float) -> subprocess.CompletedProcess[str]:
    kwargs: dict = {"user": user} if user else {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = env["LANG"] = "C.UTF-8"
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd="/", **kwargs)
    if check and result.returncode != 0:
        raise PostgresUnavailable(f"{Path(argv[0]).name} failed ({result.returncode}): "
                                  f"{(result.stderr or result.stdout).strip()[-1000:]}")
    return result


def _usable_by(path: Path, user: str | None) -> bool:
    if user is None:
        return True
    result = subprocess.run(["test", "-w", str(path), "-a", "-x", str(path)], user=user, capture_output=True,
                            cwd="/")
    return result.returncode == 0


def _cluster_dir(base_dir: Path, user: str | None) -> tuple[Path, bool]:
    """(folder for the cluster, whether stop() must remove it)."""
    base_dir.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix="postgres-", dir=base_dir))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(target, entry.pw_uid, entry.pw_gid)
        if not _usable_by(target, user):  # a parent it cannot traverse (pytest's 0700 temp root)
            shutil.rmtree(target, ignore_errors=True)
            target = Path(tempfile.mkdtemp(prefix="callmine-postgres-"))
            os.chown(target, entry.pw_uid, entry.pw_gid)
            return target, True
    return target, False


def start_postgres(base_dir: Path, *, max_connections: int = 200, timeout_s: float = 60.0,
                   settings: dict[str, str] | None = None) -> PostgresServer:
    """initdb a fresh cluster under ``base_dir`` (or a temp folder), start it, wait until it accepts connections.

    ``settings``: extra ``postgresql.conf`` settings (``-c name=value``). Raises
    ``PostgresUnavailable`` with a clear message when PostgreSQL cannot be installed or started.
    """
    bin_dir = ensure_installed()
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root, and PostgreSQL refuses to run as root, but there is no {SYSTEM_USER!r} system "
                "user to run it as (the Debian postgresql package creates it): `apt-get install -y postgresql`"
            ) from None
        user = SYSTEM_USER
    cluster_dir, owns = _cluster_dir(Path(base_dir), user)
    data_dir = cluster_dir / "data"
    _run_as([str(bin_dir / "initdb"), "-D", str(data_dir), "--no-sync", "--auth=trust", f"--username={SUPERUSER}",
             "--encoding=UTF8", "--locale=C"], user, check=True, timeout=120)
    socket_dir = cluster_dir if len(str(cluster_dir)) < _MAX_SOCKET_PATH - 20 else None
    options = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(socket_dir) if socket_dir else "",
        "max_connections": str(max_connections),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "shared_buffers": "32MB",
        "logging_collector": "off",
        "log_min_messages": "warning",
        **(settings or {}),
    }
    last_error = ""
    for _ in range(3):  # a free port can be taken between the check and the bind: try another
        port = free_port()
        server = PostgresServer(bin_dir=bin_dir, cluster_dir=cluster_dir, port=port, run_as=user,
                                owns_cluster_dir=owns, socket_dir=socket_dir)
        argv = [str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port)]
        for name, value in options.items():
            argv += ["-c", f"{name}={value}"]
        log = open(server.log_path, "ab")  # noqa: SIM115 - the server's stderr for its whole life
        kwargs: dict = {"user": user} if user else {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = env["LANG"] = "C.UTF-8"
        server.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env, cwd="/", start_new_session=True, **kwargs)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                break
            if server.is_ready():
                _RUNNING.append(server)
                return server
            time.sleep(0.05)
        last_error = server.log_path.read_text(errors="replace")[-2000:] if server.log_path.exists() else ""
        owns_dir, server.owns_cluster_dir = server.owns_cluster_dir, False
        server.stop()
        server.owns_cluster_dir = owns_dir
        if "could not bind" not in last_error and "already in use" not in last_error:
            break
    if owns:
        shutil.rmtree(cluster_dir, ignore_errors=True)
    raise PostgresUnavailable(f"PostgreSQL did not start (log: {last_error.strip() or 'empty'})")


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()
