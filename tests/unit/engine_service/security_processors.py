"""Test processors of the security tests, importable by the engine's spawned worker processes."""

from __future__ import annotations

import os
from typing import Any

from include.engine.speech import models


def resolve_model_only(path: str, options: Any) -> dict[str, Any]:
    """Resolve the job's model with the REAL resolver (the base model is joined into its cache on
    first use, 145 MB) and report where it is; no transcription."""
    model_path = models.resolve_model(options.model)
    return {
        "text": "", "segments": [], "words": [], "speakers": 1, "audio_seconds": 1.0, "model": options.model,
        "model_path": str(model_path), "cache_dir": str(models.default_cache_dir()),
        "model_dir_env": os.environ.get(models.MODEL_DIR_ENV),
    }
