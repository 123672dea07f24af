"""``airflow dags test call_archive_mining D`` processes the calls of day D (triggers inline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from callmine.warehouse import connect
from tests.audio import write_wav
from tests.fake_pyai import FakeConfig, FakePyAIServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_dags_test_for_a_date_loads_that_dates_calls(tmp_path):
    write_wav(tmp_path / "in/2026/11/20/a.wav", seconds=6, channels=2)
    write_wav(tmp_path / "in/2026/11/19/b.wav", seconds=6, channels=1)  # the day before: not this run's
    airflow = str(Path(sys.executable).with_name("airflow"))
    with FakePyAIServer(FakeConfig(latency_s=1.0)) as fake:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path / "home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "CALLMINE_SOURCE_URI": str(tmp_path / "in"),
            "CALLMINE_WAREHOUSE_URI": str(tmp_path / "wh"),
            "AIRFLOW_CONN_PYAI_DEFAULT": json.dumps({"conn_type": "http", "host": fake.base_url, "password": fake.api_key}),
            "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}",
        }
        subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, check=True, timeout=300)
        result = subprocess.run([airflow, "dags", "test", "call_archive_mining", "2026-11-20"],
                                env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with connect(str(tmp_path / "wh")) as con:
        rows = con.execute("SELECT call_date::VARCHAR, status, source_uri FROM calls").fetchall()
    assert [(d, s, u.rsplit("/", 1)[-1]) for d, s, u in rows] == [("2026-11-20", "completed", "a.wav")]
