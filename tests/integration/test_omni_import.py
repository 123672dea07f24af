"""``omni_call_import``: a day's PyAI Omni calls (already transcribed) into the same tables.

Runs ``airflow dags test omni_call_import D`` against the faithful Omni fake: timed
turns, a legacy plain-string transcript, one offloaded to a signed URL on another host,
and one not pushed yet (no row; the next run imports it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callmine.warehouse import connect
from tests.fake_pyai_omni import FakeOmniServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-20"
AT = datetime(2026, 11, 20, 10, tzinfo=UTC)
TIMED = {"turns": [
    {"role": "assistant", "text": "Thanks for calling Acme, how can I help?", "start_ms": 0, "end_ms": 2500},
    {"role": "user", "text": "I was charged twice, I want a refund.", "start_ms": 3000, "end_ms": 6000},
    {"role": "assistant", "text": "I will refund the duplicate charge today.", "start_ms": 6500, "end_ms": 9000},
]}


def dags_test(tmp_path: Path, fake: FakeOmniServer) -> None:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "CALLMINE_WAREHOUSE_URI": str(tmp_path / "wh"),
        "AIRFLOW_CONN_PYAI_DEFAULT": fake.connection_json(),
        "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}",
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, check=True, timeout=300)
    done = subprocess.run([airflow, "dags", "test", "omni_call_import", DAY], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def rows(tmp_path: Path, sql: str) -> list[tuple]:
    with connect(str(tmp_path / "wh")) as con:
        return con.execute(sql).fetchall()


def test_omni_calls_of_the_day_land_in_the_tables_and_late_transcripts_follow(tmp_path):
    with FakeOmniServer() as fake:
        fake.add_call("omni_timed", AT, TIMED)
        fake.add_call("omni_legacy", AT, "Assistant: Hello, Acme support.\nUser: My parcel is late.")
        fake.add_call("omni_offloaded", AT, TIMED, offloaded=True)
        fake.add_call("omni_late", AT, TIMED, held=True)  # not pushed yet: 404
        dags_test(tmp_path, fake)
        calls = dict(rows(tmp_path, "SELECT provider_job_id, status FROM calls"))
        assert calls == {"omni_timed": "completed", "omni_legacy": "completed", "omni_offloaded": "completed"}
        assert rows(tmp_path, "SELECT DISTINCT provider FROM calls") == [("pyai_omni",)]
        roles = dict(rows(tmp_path, """SELECT m.speaker, m.role FROM speaker_metrics m JOIN calls c USING (call_id)
                                       WHERE c.provider_job_id = 'omni_timed'"""))
        assert roles == {"speaker_0": "agent", "speaker_1": "customer"}
        assert rows(tmp_path, """SELECT count(*) FROM segments s JOIN calls c USING (call_id)
                                 WHERE c.provider_job_id = 'omni_legacy' AND s.start_s IS NOT NULL""") == [(0,)]
        [(items,)] = rows(tmp_path, """SELECT i.action_items FROM call_insights i JOIN calls c USING (call_id)
                                       WHERE c.provider_job_id = 'omni_timed'""")
        assert any("refund" in item for item in items)
        fake.push("omni_late")
        dags_test(tmp_path, fake)  # the next run: the late transcript arrives, nothing is duplicated
    assert sorted(rows(tmp_path, "SELECT provider_job_id FROM calls")) == [
        ("omni_late",), ("omni_legacy",), ("omni_offloaded",), ("omni_timed",)]
    [(total, distinct)] = rows(tmp_path, "SELECT count(*), count(DISTINCT (call_id, segment_idx)) FROM segments")
    assert total == distinct
