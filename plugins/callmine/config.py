"""Deployment configuration: environment defaults and project-relative paths.

Resolve the project's relative paths the same way in every Airflow process.

Airflow components start in different working directories; a relative path such as
``data/warehouse`` or ``include/trackers/default.yaml`` means "under the project root".
The root is ``CALLMINE_HOME`` when set, else the folder holding ``plugins/``.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("CALLMINE_HOME") or Path(__file__).resolve().parents[2])


def resolve_uri(uri: str) -> str:
    """URLs (``s3://``, ``file://``, ``http://``...) pass through; relative paths join the project root."""
    if "://" in uri or os.path.isabs(uri):
        return uri
    return str(PROJECT_ROOT / uri)


def env_default(name: str, default: str) -> str:
    """A setting from the environment (empty counts as unset), else the default."""
    return os.environ.get(name) or default
