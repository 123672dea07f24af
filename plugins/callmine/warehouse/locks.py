"""One writer per month file at a time.

A day's load rewrites its month's file (read, merge, write, rename), so two loads into
the same month must not interleave or one would lose the other's day. Different
months never share a file and lock independently.

- Local roots: an OS file lock (``filelock``) on ``<root>/_locks/<YYYY-MM>.lock``; it
  covers every process on the host (Airflow tasks, ``callmine migrate``) and is
  released by the kernel if the holder dies.
- Object stores have no locks; there the ``load`` tasks run in the Airflow pool
  ``callmine_warehouse`` (one slot, include/pools.json), which serializes them across
  every worker of the deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from callmine.warehouse.layout import lock_file
from callmine.warehouse.storage import Storage

LOCK_TIMEOUT_S = 900.0  # a month rewrite takes seconds; waiting longer means a stuck writer


class WarehouseBusy(RuntimeError):
    """Another writer held the month's lock for longer than the timeout."""


@contextmanager
def month_lock(storage: Storage, month: str, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    if not storage.is_local:
        yield
        return
    path = storage.path(lock_file(month))
    storage.fs.makedirs(path.rpartition("/")[0], exist_ok=True)
    lock = FileLock(path, timeout=timeout)
    try:
        lock.acquire(poll_interval=0.05)
    except Timeout as exc:
        raise WarehouseBusy(
            f"month {month} of warehouse {storage.root_url} has been locked by another writer for "
            f"{timeout:.0f} s ({path}); is a load or `callmine migrate` stuck?"
        ) from exc
    try:
        yield
    finally:
        lock.release()
