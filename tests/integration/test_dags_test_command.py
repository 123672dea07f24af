"""``airflow dags test call_archive_mining D`` processes the calls of day D (triggers inline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from callmine.warehouse import connect
from callmine.local.services import start_engine
from tests.audio import write_wav
from tests.fake_pyai import FakeConfig, FakePyAIServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def airflow_env(tmp_path: Path, source: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "CALLMINE_SOURCE_URI": str(source),
        "CALLMINE_WAREHOUSE_URI": str(tmp_path / "wh"),
        "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}",
        **extra,
    }


def dags_test(env: dict[str, str], day: str) -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, check=True, timeout=300)
    result = subprocess.run([airflow, "dags", "test", "call_archive_mining", day],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def loaded_calls(tmp_path: Path) -> list[tuple[str, str, str]]:
    with connect(str(tmp_path / "wh")) as con:
        rows = con.execute("SELECT call_date::VARCHAR, status, source_uri FROM calls ORDER BY call_date").fetchall()
    return [(d, s, u.rsplit("/", 1)[-1]) for d, s, u in rows]


def test_dags_test_for_a_date_loads_that_dates_calls(tmp_path):
    write_wav(tmp_path / "in/2026/11/20/a.wav", seconds=6, channels=2)
    write_wav(tmp_path / "in/2026/11/19/b.wav", seconds=6, channels=1)  # the day before: not this run's
    with FakePyAIServer(FakeConfig(latency_s=1.0)) as fake:
        conn = {"conn_type": "http", "host": fake.base_url, "password": fake.api_key}
        env = airflow_env(tmp_path, tmp_path / "in", AIRFLOW_CONN_PYAI_DEFAULT=json.dumps(conn),
                          CALLMINE_LOOKBACK_DAYS="0")
        dags_test(env, "2026-11-20")
    assert loaded_calls(tmp_path) == [("2026-11-20", "completed", "a.wav")]


def test_with_the_default_lookback_a_late_recording_of_the_day_before_lands_in_its_own_day(tmp_path):
    write_wav(tmp_path / "in/2026/11/20/a.wav", seconds=6, channels=2)
    write_wav(tmp_path / "in/2026/11/19/late.wav", seconds=6, channels=1)  # arrived after the 19th's run
    with FakePyAIServer(FakeConfig(latency_s=1.0)) as fake:
        conn = {"conn_type": "http", "host": fake.base_url, "password": fake.api_key}
        dags_test(airflow_env(tmp_path, tmp_path / "in", AIRFLOW_CONN_PYAI_DEFAULT=json.dumps(conn)), "2026-11-20")
    assert loaded_calls(tmp_path) == [("2026-11-19", "completed", "late.wav"), ("2026-11-20", "completed", "a.wav")]


def test_the_embedded_engine_with_a_key_transcribes_a_shipped_call(tmp_path):
    """As production runs it: the engine with auth on, pyai_default carrying its key; a real sample call."""
    sample = ROOT / "include/samples/calls/2026-11-20_acme-renewal_stereo.wav"
    (tmp_path / "in").mkdir()
    shutil.copy(sample, tmp_path / "in" / sample.name)
    engine = start_engine(tmp_path / "engine", "--workers", "1", api_key="cm_dags_test_key_0001")
    try:
        dags_test(airflow_env(tmp_path, tmp_path / "in", AIRFLOW_CONN_PYAI_DEFAULT=engine.pyai_connection()),
                  "2026-11-20")
    finally:
        engine.stop()
    with connect(str(tmp_path / "wh")) as con:
        [(status, diarization, speakers)] = con.execute("SELECT status, diarization, speakers FROM calls").fetchall()
        trackers = {t for (t,) in con.execute("SELECT DISTINCT tracker FROM keyword_hits").fetchall()}
        words = con.execute("SELECT count(*) FROM words").fetchone()[0]
    assert (status, diarization, speakers) == ("completed", "channel", 2)
    assert words > 50
    assert {"pricing", "contract"} <= trackers  # the call discusses a price increase at renewal
