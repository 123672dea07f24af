"""Where a local callmine keeps its Airflow home, engine data and deployment record.

Everything lives under the project root (``data/``), never in ``~/airflow``, so the
project's dags and plugins are always the ones loaded and ``rm -r data/airflow``
resets a local deployment.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from callmine.config import PROJECT_ROOT
from callmine.local.stack import AirflowStack, airflow_executable

DAG_ID = "call_archive_mining"
# provider -> the Airflow connection that configures it (no connection: the embedded engine).
PROVIDER_CONNECTIONS = {"pyai": "pyai_default"}


@dataclass(frozen=True)
class LocalHome:
    root: Path = PROJECT_ROOT

    @property
    def airflow_home(self) -> Path:
        return Path(os.environ.get("CALLMINE_AIRFLOW_HOME") or self.root / "data" / "airflow")

    @property
    def engine_dir(self) -> Path:
        return self.root / "data" / "engine"

    @property
    def engine_record(self) -> Path:
        return self.airflow_home / "engine.json"

    def stack(self, extra_env: dict[str, str] | None = None, all_admins: bool = True) -> AirflowStack:
        return AirflowStack(home=self.airflow_home, extra_env=dict(extra_env or {}), all_admins=all_admins)

    def running(self) -> AirflowStack | None:
        """The deployment ``callmine up`` started, if it is still running."""
        return AirflowStack.attach(self.airflow_home)

    def has_connection(self, provider: str) -> bool:
        """Is the provider's Airflow connection configured (environment or the local metadata DB)?"""
        conn_id = PROVIDER_CONNECTIONS.get(provider, f"{provider}_default")
        if os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"):
            return True
        stack = self.stack()
        stack.migrate()
        found = subprocess.run(
            [airflow_executable(), "connections", "get", conn_id], env=stack.env(),
            capture_output=True, text=True, timeout=120,
        )
        return found.returncode == 0
