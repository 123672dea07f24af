"""Load resemblyzer's GE2E encoder checkpoint (`resemblyzer/pretrained.pt`) without torch.

The shipped file is torch's *legacy* (pre-1.6) serialization, not the newer zip format:
four pickles back to back (magic number, protocol version, sys info, the object itself),
then a pickle with the list of storage keys, then for each key an int64 element count
followed by the raw little-endian storage bytes. Tensors inside the object pickle point
at storages through `persistent_load`. The zip format (``data.pkl`` + ``data/<key>``) is
handled too, so a re-saved checkpoint keeps working.

We never import resemblyzer: its ``__init__`` imports torch and webrtcvad.
"""

from __future__ import annotations

import collections
import importlib.util
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# torch storage class name -> numpy dtype (little-endian, as all torch checkpoints here).
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class WeightsNotFound(FileNotFoundError):
    """resemblyzer (installed with --no-deps) is missing, so there are no encoder weights."""


@dataclass(frozen=True)
class _StorageType:
    name: str

    @property
    def dtype(self) -> np.dtype:
        return _STORAGE_DTYPES[self.name]


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _StorageRef, offset: int, size: tuple[int, ...],
                    stride: tuple[int, ...], *_ignored: Any) -> _TensorRef:
    # Storage bytes are not available yet (legacy format stores them after the pickle),
    # so record where the tensor lives and materialize later.
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """Maps the few torch globals a state-dict pickle references to local stand-ins.

    Anything else is refused: the checkpoint is data, we never execute arbitrary globals.
    """

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing global {module}.{name} in checkpoint")

    def persistent_load(self, pid: Any) -> _StorageRef:
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type = pid[1]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        return _StorageRef(str(pid[2]), storage_type.dtype)


def _materialize(obj: Any, storages: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, _TensorRef):
        flat = storages[obj.storage.key]
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[obj.offset:], shape=obj.shape, strides=tuple(s * itemsize for s in obj.stride))
        return np.array(view, dtype=np.float32 if flat.dtype.kind == "f" else flat.dtype)
    if isinstance(obj, dict):
        return type(obj)((k, _materialize(v, storages)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v, storages) for v in obj)
    return obj


def _collect_storage_refs(obj: Any, out: dict[str, _StorageRef]) -> None:
    if isinstance(obj, _TensorRef):
        out[obj.storage.key] = obj.storage
    elif isinstance(obj, dict):
        for v in obj.values():
            _collect_storage_refs(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _collect_storage_refs(v, out)


def _load_legacy(f: BinaryIO) -> Any:
    if pickle.load(f) != _LEGACY_MAGIC:
        raise pickle.UnpicklingError("not a torch legacy checkpoint (bad magic number)")
    pickle.load(f)  # protocol version
    sys_info = pickle.load(f)
    if not sys_info.get("little_endian", True):
        raise pickle.UnpicklingError("big-endian checkpoints are not supported")
    obj = _Unpickler(f).load()
    keys = pickle.load(f)
    refs: dict[str, _StorageRef] = {}
    _collect_storage_refs(obj, refs)
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        (numel,) = struct.unpack("<q", f.read(8))
        dtype = refs[key].dtype
        storages[key] = np.frombuffer(f.read(numel * dtype.itemsize), dtype=dtype)
    return _materialize(obj, storages)


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as zf:
        pkl = next(n for n in zf.namelist() if n.endswith("data.pkl"))
        prefix = pkl[: -len("data.pkl")]
        obj = _Unpickler(io.BytesIO(zf.read(pkl))).load()
        refs: dict[str, _StorageRef] = {}
        _collect_storage_refs(obj, refs)
        storages = {key: np.frombuffer(zf.read(f"{prefix}data/{key}"), dtype=ref.dtype)
                    for key, ref in refs.items()}
    return _materialize(obj, storages)


def load_torch_state(path: Path) -> Any:
    """Unpickle a torch checkpoint, returning numpy arrays wherever it held tensors."""
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    with open(path, "rb") as f:
        return _load_legacy(f)


def default_weights_path() -> Path:
    """Path of resemblyzer's shipped `pretrained.pt`, found without importing resemblyzer."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFound(
            "resemblyzer is not installed; run "
            "`pip install --no-deps -r requirements-nodeps.txt` (bash scripts/bootstrap.sh does it)")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "pretrained.pt"
        if candidate.is_file():
            return candidate
    raise WeightsNotFound("resemblyzer is installed but pretrained.pt is missing")


@lru_cache(maxsize=2)
def load_encoder_weights(path: Path | None = None) -> dict[str, np.ndarray]:
    """name -> float32 array of the GE2E encoder (`lstm.*`, `linear.*`, `similarity_*`).

    Cached: the 17 MB file is parsed once per process.
    """
    state = load_torch_state(path or default_weights_path())
    model_state = state["model_state"] if "model_state" in state else state
    return {name: np.ascontiguousarray(arr, dtype=np.float32)
            for name, arr in model_state.items()}
