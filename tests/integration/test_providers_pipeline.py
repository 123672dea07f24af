"""One day through the DAG with each speech provider, on a real Airflow deployment.

AssemblyAI and CallMissed against their faithful fakes; the OpenAI-compatible provider
against callmine's embedded engine (a real transcriber). Each day's tables are checked
in DuckDB, then the run is re-run: no duplicate rows, no second job.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from callmine.local.services import start_engine
from callmine.local.stack import AirflowStack
from callmine.warehouse import connect
from tests.fake_assemblyai import FakeAssemblyAI, FakeAssemblyAIConfig
from tests.fake_callmissed import FakeCallMissed

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "include" / "samples" / "calls"
DAG_ID = "call_archive_mining"
DAY = "2026-11-20"
KEYS = {"calls": "call_id", "segments": "call_id, segment_idx", "words": "call_id, word_idx",
        "speaker_metrics": "call_id, speaker", "call_insights": "call_id"}


def recordings(folder: Path) -> Path:
    """A stereo and a mono sample call, and a damaged upload, all dated DAY."""
    day = folder / "2026" / "11" / "20"
    day.mkdir(parents=True)
    shutil.copy(SAMPLES / "2026-11-20_acme-renewal_stereo.wav", day / "stereo.wav")
    shutil.copy(SAMPLES / "2026-11-19_subscription-cancel_mono.wav", day / "mono.wav")
    (day / "damaged.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 16)
    return folder


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("providers")
    engine = start_engine(base / "engine", "--workers", "1", api_key="cm_providers_test_key_0001")  # auth on
    try:
        with FakeAssemblyAI(FakeAssemblyAIConfig(latency_s=1.0)) as aai, FakeCallMissed() as cm:
            conns = {
                "AIRFLOW_CONN_ASSEMBLYAI_DEFAULT": {"conn_type": "http", "host": aai.base_url, "password": aai.api_key},
                "AIRFLOW_CONN_CALLMISSED_DEFAULT": {"conn_type": "http", "host": cm.base_url, "password": cm.api_key},
                "AIRFLOW_CONN_OPENAI_AUDIO_DEFAULT": {"conn_type": "http", "host": engine.base_url,
                                                      "password": engine.api_key, "extra": {"model": "whisper-1"}},
            }
            stack = AirflowStack(home=base / "airflow",
                                 extra_env={k: json.dumps(v) for k, v in conns.items()} | {"CALLMINE_BATCH_SIZE": "2"})
            stack.start()
            try:
                stack.wait_dag(DAG_ID)
                stack.unpause(DAG_ID)
                yield {"stack": stack, "base": base, "assemblyai": aai, "callmissed": cm}
            finally:
                stack.stop()
    finally:
        engine.stop()


def run_day(env, provider: str, second: int) -> tuple[str, str]:
    base = env["base"]
    source = base / f"in-{provider}"
    if not source.exists():
        recordings(source)
    warehouse = str(base / f"wh-{provider}")
    conf = {"provider": provider, "source_uri": str(source), "warehouse_uri": warehouse, "batch_size": 2}
    stack = env["stack"]
    run_id = stack.trigger(DAG_ID, f"{DAY}T00:00:{second:02d}Z", conf)
    assert stack.wait_run(DAG_ID, run_id, timeout=900) == "success", stack.logs_tail()
    return run_id, warehouse


def query(warehouse: str, sql: str) -> list[tuple]:
    with connect(warehouse) as con:
        return con.execute(sql).fetchall()


def snapshot(warehouse: str) -> dict[str, list]:
    out = {}
    with connect(warehouse) as con:
        for table, key in KEYS.items():
            exclude = " EXCLUDE (ingested_at, run_id)" if table == "calls" else ""
            exclude = " EXCLUDE (generated_at)" if table == "call_insights" else exclude
            out[table] = con.execute(f"SELECT *{exclude} FROM {table} ORDER BY {key}").fetchall()
    return out


def calls_of(warehouse: str) -> dict[str, tuple]:
    rows = query(warehouse, "SELECT source_uri, status, provider, diarization, speakers, error FROM calls")
    return {uri.rsplit("/", 1)[-1]: tuple(rest) for uri, *rest in rows}


def assert_rerun_changes_nothing(env, provider: str, warehouse: str, second: int) -> None:
    before = snapshot(warehouse)
    run_day(env, provider, second)
    after = snapshot(warehouse)
    assert after == before
    for table, key in KEYS.items():
        [(total, distinct)] = query(warehouse, f"SELECT count(*), count(DISTINCT ({key})) FROM {table}")
        assert total == distinct, table


def test_assemblyai_day_lands_in_the_tables_with_canonical_speakers(env):
    env["assemblyai_run"], warehouse = run_day(env, "assemblyai", 1)
    calls = calls_of(warehouse)
    assert calls["stereo.wav"][:4] == ("completed", "assemblyai", "channel", 2)
    assert calls["mono.wav"][:3] == ("completed", "assemblyai", "model")
    assert calls["damaged.wav"][0] == "failed" and "unreadable audio" in calls["damaged.wav"][4]
    speakers = {s for (s,) in query(warehouse, "SELECT DISTINCT speaker FROM segments")}
    assert speakers <= {"ch0", "ch1", "speaker_0", "speaker_1"} and "ch1" in speakers
    labels = {s for (s,) in query(warehouse, "SELECT DISTINCT speaker_label FROM segments WHERE speaker LIKE 'speaker_%'")}
    assert labels <= {"A", "B"}
    [(max_end, duration)] = query(warehouse, """SELECT max(s.end_s), max(c.duration_s) FROM segments s
                                                JOIN calls c USING (call_id)""")
    assert max_end <= duration + 1  # milliseconds became seconds
    created = env["assemblyai"].stats()["transcripts_created"]
    assert_rerun_changes_nothing(env, "assemblyai", warehouse, 2)
    assert env["assemblyai"].stats()["transcripts_created"] == created


def test_callmissed_day_has_untimed_segments_and_the_services_own_insights(env):
    _, warehouse = run_day(env, "callmissed", 3)
    calls = calls_of(warehouse)
    assert calls["stereo.wav"][:2] == ("completed", "callmissed")
    assert query(warehouse, "SELECT count(*) FROM segments WHERE start_s IS NOT NULL") == [(0,)]
    [(ratio,)] = query(warehouse, "SELECT round(sum(talk_ratio), 6) FROM speaker_metrics "
                                  "WHERE call_id = (SELECT min(call_id) FROM calls WHERE status = 'completed')")
    assert ratio == 1.0
    rows = query(warehouse, "SELECT analyzer, summary IS NOT NULL FROM call_insights")
    assert rows and set(rows) == {("callmissed", True)}
    assert_rerun_changes_nothing(env, "callmissed", warehouse, 4)


def test_openai_compatible_day_is_transcribed_by_the_embedded_engine_with_exact_channels(env):
    _, warehouse = run_day(env, "openai", 5)
    calls = calls_of(warehouse)
    assert calls["stereo.wav"][:4] == ("completed", "openai", "channel", 2)
    assert calls["mono.wav"][:2] == ("completed", "openai")
    [(words,)] = query(warehouse, "SELECT count(*) FROM words WHERE start_s IS NOT NULL")
    assert words > 50
    stereo = {s for (s,) in query(warehouse, """SELECT DISTINCT s.speaker FROM segments s JOIN calls c USING (call_id)
                                                WHERE c.source_uri LIKE '%stereo.wav'""")}
    assert stereo == {"ch0", "ch1"}
    assert_rerun_changes_nothing(env, "openai", warehouse, 6)


def test_the_graph_shows_submit_then_a_deferred_sensor_then_stage_per_batch(env):
    if "assemblyai_run" not in env:
        env["assemblyai_run"], _ = run_day(env, "assemblyai", 1)
    stack, run_id = env["stack"], env["assemblyai_run"]
    tis = stack.task_instances(DAG_ID, run_id)
    waits = [ti for ti in tis if ti["task_id"] == "wait"]
    assert waits and {ti["operator"] for ti in waits} == {"TranscriptionJobsSensor"}
    for step in ("submit", "wait", "stage", "analyze"):
        assert sorted(ti["rendered_map_index"] for ti in tis if ti["task_id"] == step) == [f"{DAY}/b000", f"{DAY}/b001"]
    # The waits ran in the triggerer (deferred), not in a worker: the triggerer's log of each wait.
    trigger_logs = list((stack.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / "task_id=wait").rglob(
        "*.log.trigger.*.log"))
    assert len({p.parent.name for p in trigger_logs}) == 2  # both batches
    assert any(f"jobs of batch {DAY}/b000 finished" in p.read_text(errors="replace") for p in trigger_logs)
