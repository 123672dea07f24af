"""Run the encoder's matmuls on a single BLAS thread.

The GE2E LSTM is ~450 small sequential matmuls ((windows, 256) x (256, 1024)). With
OpenBLAS's default thread pool, each one wakes and spin-waits on other threads; when
another process (CTranslate2 transcribing, a second worker) holds the cores, a 45 s call
went from 0.6 s to 2-7 s. Single-threaded it stays at ~0.6 s either way, and the
transcriber keeps the other core. No threadpoolctl dependency: numpy's bundled
scipy-openblas exports set/get functions we call through ctypes. Anything unexpected
(other BLAS, other OS) degrades to a no-op.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads")
# The thread count is process-global: the first concurrent user saves and lowers it, the
# last one restores it, so parallel diarize() calls neither serialize nor fight.
_lock = threading.Lock()
_users = 0
_saved = 0


@lru_cache(maxsize=1)
def _openblas() -> tuple[object, object] | None:
    try:
        import numpy  # noqa: F401  -- make sure numpy's BLAS is loaded before we look

        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps
                     if "openblas" in line.lower() and ".so" in line}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
            getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return setter, getter
    except (OSError, ValueError, IndexError):
        pass
    return None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    funcs = _openblas()
    if funcs is None:
        yield
        return
    global _users, _saved
    setter, getter = funcs
    with _lock:
        if _users == 0:
            _saved = getter()
            setter(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                setter(_saved)
