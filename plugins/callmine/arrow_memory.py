"""Which allocator Arrow uses in the processes that build and load a day's tables.

pyarrow's default pool here is mimalloc. On the load path (a million words: staged
batches concatenated, sorted, written as Parquet) it gives memory back to the OS
between large allocations and faults it in again, so the same merge alternates
between 0.34 and 0.60 CPU s from one run to the next; with the C library's allocator
it is a steady 0.38 (``scripts/bench_load.py``, BENCHMARKS.md §2). The stage and load
tasks run in their own short-lived processes, so switching the process's default
pool there touches nothing else.
"""

from __future__ import annotations

import os

import pyarrow as pa

# The variable pyarrow itself reads at start-up: an operator's explicit choice wins.
POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def use_system_allocator() -> None:
    """Arrow's default pool becomes the system allocator, unless ``$ARROW_DEFAULT_MEMORY_POOL`` chose one."""
    if not os.environ.get(POOL_ENV):
        pa.set_memory_pool(pa.system_memory_pool())
