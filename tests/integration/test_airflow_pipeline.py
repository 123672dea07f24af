"""The DAG on a real Airflow deployment (api-server, scheduler, dag-processor, triggerer).

Real audio files, the fake PyAI service on loopback, real Parquet read through DuckDB.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from callmine.warehouse import connect
from callmine.local.stack import AirflowStack
from tests.audio import write_wav
from tests.fake_openai_chat import FakeOpenAIChat
from tests.fake_pyai import FakeConfig, FakePyAIServer

pytestmark = pytest.mark.integration

DAG_ID = "call_archive_mining"
DAY = "2026-11-20"
BACKFILL_DAYS = ("2026-11-01", "2026-11-02", "2026-11-03")
TABLE_KEYS = {
    "calls": "call_id",
    "segments": "call_id, segment_idx",
    "words": "call_id, word_idx",
    "speaker_metrics": "call_id, speaker",
    "keyword_hits": "call_id, start_s, tracker, term",
}


def make_archive(root: Path) -> None:
    day = root / DAY.replace("-", "/")
    for i in range(3):
        write_wav(day / f"stereo-{i}.wav", seconds=20 + i, channels=2, seed=i)
    for i in range(2):
        write_wav(day / f"mono-{i}.wav", seconds=15 + i, channels=1, seed=10 + i)
    (day / "corrupt.wav").write_bytes(b"RIFF\x00\x00not a wave file" * 40)
    (day / "notes.txt").write_text("operator notes, not audio")
    for n, backfill_day in enumerate(BACKFILL_DAYS):
        write_wav(root / "flat" / f"call-{backfill_day}.wav", seconds=10, channels=2, seed=100 + n)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("pipeline")
    make_archive(base / "recordings")
    config = FakeConfig(latency_s=3.0, allow_http_audio=True, requests_per_second=200, burst=400)
    with FakePyAIServer(config) as fake, FakeOpenAIChat() as chat:
        conn = {"conn_type": "http", "host": fake.base_url, "password": fake.api_key}
        llm = {"conn_type": "http", "host": chat.base_url, "password": chat.api_key,
               "extra": {"model": chat.default_model}}
        stack = AirflowStack(
            home=base / "airflow",
            extra_env={
                "CALLMINE_SOURCE_URI": str(base / "recordings"),
                "CALLMINE_WAREHOUSE_URI": str(base / "warehouse"),
                "CALLMINE_BATCH_SIZE": "2",
                "AIRFLOW_CONN_PYAI_DEFAULT": json.dumps(conn),
                "AIRFLOW_CONN_LLM_DEFAULT": json.dumps(llm),
            },
        )
        stack.start()
        try:
            stack.wait_dag(DAG_ID)
            stack.unpause(DAG_ID)
            yield {"stack": stack, "fake": fake, "chat": chat, "warehouse": str(base / "warehouse"),
                   "home": base / "airflow"}
        finally:
            stack.stop()


@pytest.fixture(scope="module")
def day_run(env):
    stack = env["stack"]
    run_id = stack.trigger(DAG_ID, f"{DAY}T00:00:00Z")
    state = stack.wait_run(DAG_ID, run_id, timeout=600)
    assert state == "success", stack.logs_tail()
    return run_id


def query(env, sql):
    with connect(env["warehouse"]) as con:
        return con.execute(sql).fetchall()


def snapshot(env):
    """Every table's rows for the day (minus load timestamps), in key order.

    ``env["s3_options"]``, when present: the object store holding the warehouse.
    """
    out = {}
    with connect(env["warehouse"], env.get("s3_options")) as con:
        for table, key in TABLE_KEYS.items():
            exclude = " EXCLUDE (ingested_at)" if table == "calls" else ""
            out[table] = con.execute(
                f"SELECT *{exclude} FROM {table} WHERE call_date = DATE '{DAY}' ORDER BY {key}"
            ).fetchall()
    return out


def test_run_loads_every_recording_of_the_day(env, day_run):
    rows = query(env, f"SELECT status, count(*) FROM calls WHERE call_date = DATE '{DAY}' GROUP BY ALL ORDER BY 1")
    assert rows == [("completed", 5), ("failed", 1)]


def test_corrupt_recording_is_recorded_failed_with_its_reason(env, day_run):
    [(uri, error)] = query(env, "SELECT source_uri, error FROM calls WHERE status = 'failed'")
    assert uri.endswith("corrupt.wav") and "unreadable audio" in error


def test_stereo_calls_use_channels_and_mono_calls_model_diarization(env, day_run):
    rows = query(env, "SELECT channels, diarization, count(*) FROM calls WHERE status = 'completed' GROUP BY ALL ORDER BY 1")
    assert rows == [(1, "model", 2), (2, "channel", 3)]


def test_every_completed_call_has_segments_words_and_metrics_summing_to_one(env, day_run):
    rows = query(env, """
        SELECT c.call_id,
               (SELECT count(*) FROM segments s WHERE s.call_id = c.call_id),
               (SELECT count(*) FROM words w WHERE w.call_id = c.call_id),
               (SELECT sum(talk_ratio) FROM speaker_metrics m WHERE m.call_id = c.call_id)
        FROM calls c WHERE c.status = 'completed'
    """)
    assert len(rows) == 5
    for _, segments, words, ratio_sum in rows:
        assert segments > 0 and words > 0
        assert ratio_sum == pytest.approx(1.0, abs=1e-6)


def test_keyword_hits_and_subtitles_are_stored(env, day_run):
    assert query(env, "SELECT count(*) FROM keyword_hits")[0][0] > 0
    [(srt_uri,)] = query(env, "SELECT srt_uri FROM calls WHERE status = 'completed' ORDER BY call_id LIMIT 1")
    assert Path(srt_uri.removeprefix("file://")).read_text().strip()


def test_each_batch_is_submitted_waited_for_by_a_deferred_sensor_and_staged(env, day_run):
    tis = env["stack"].task_instances(DAG_ID, day_run)
    for step in ("submit", "wait", "stage", "analyze"):
        names = sorted(ti["rendered_map_index"] for ti in tis if ti["task_id"] == step)
        assert names == [f"{DAY}/b000", f"{DAY}/b001", f"{DAY}/b002"], step
    [wait] = [ti for ti in tis if ti["task_id"] == "wait" and ti["rendered_map_index"] == f"{DAY}/b000"]
    assert wait["operator"] == "TranscriptionJobsSensor"
    assert wait["trigger"] is None or wait["state"] == "success"
    deferred = env["stack"].api("GET", f"/dags/{DAG_ID}/dagRuns/{day_run}/taskInstances/wait/0/tries")
    assert any(t["state"] in ("deferred", "success") for t in deferred["task_instances"])


def test_clearing_and_rerunning_the_run_changes_no_row_and_creates_no_job(env, day_run):
    stack, fake = env["stack"], env["fake"]
    before, jobs_before = snapshot(env), fake.stats()["jobs_created"]
    clear_and_wait(stack, day_run, timeout=600)
    assert snapshot(env) == before
    assert fake.stats()["jobs_created"] == jobs_before


def clear_and_wait(stack, run_id, timeout: float) -> None:
    """Clear every task of the run and wait until it has run again to success."""
    tries_before = discover_tries(stack, run_id)
    stack.clear_run(DAG_ID, run_id)
    deadline = time.monotonic() + timeout
    while discover_tries(stack, run_id) == tries_before or stack.run_state(DAG_ID, run_id) != "success":
        assert time.monotonic() < deadline, stack.logs_tail()
        assert stack.run_state(DAG_ID, run_id) != "failed", stack.logs_tail()
        time.sleep(2)


def discover_tries(stack, run_id):
    [ti] = [ti for ti in stack.task_instances(DAG_ID, run_id) if ti["task_id"] == "discover"]
    return ti["try_number"]


def test_keys_are_unique_in_every_table(env, day_run):
    for table, key in TABLE_KEYS.items():
        [(total, distinct)] = query(env, f"SELECT count(*), count(DISTINCT ({key})) FROM {table}")
        assert total == distinct, table


def test_backfill_processes_each_day_of_the_range(env):
    stack = env["stack"]
    runs = stack.backfill(DAG_ID, BACKFILL_DAYS[0], BACKFILL_DAYS[-1], timeout=600)
    assert [(r["logical_date"][:10], r["state"]) for r in runs] == [(d, "success") for d in BACKFILL_DAYS], stack.logs_tail()
    rows = query(env, f"""
        SELECT call_date::VARCHAR, count(*) FROM calls
        WHERE call_date BETWEEN DATE '{BACKFILL_DAYS[0]}' AND DATE '{BACKFILL_DAYS[-1]}'
        GROUP BY ALL ORDER BY 1
    """)
    assert rows == [(day, 1) for day in BACKFILL_DAYS]


def test_no_secret_reaches_task_logs_xcom_or_parquet(env, day_run):
    key = env["fake"].api_key
    home: Path = env["home"]
    for path in list((home / "logs").rglob("*")) + list(Path(env["warehouse"]).rglob("*.parquet")):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path

    for path in list((home / "logs").rglob("*")) + list(Path(env["warehouse"]).rglob("*.parquet")):
        if path.is_file():
            assert env["chat"].api_key.encode() not in path.read_bytes(), path


# -- call insights (these run last: they change the day's insights) -------------------------


def test_every_completed_call_gets_lexical_insights_by_default(env, day_run):
    rows = query(env, f"""
        SELECT c.status, i.analyzer, i.model, i.sentiment IS NOT NULL, i.error
        FROM calls c LEFT JOIN call_insights i USING (call_id) WHERE c.call_date = DATE '{DAY}'
    """)
    assert sorted(r for r in rows if r[0] == "completed") == [("completed", "lexical", "callmine-lexical-1", True, None)] * 5
    assert [r[1] for r in rows if r[0] == "failed"] == [None]  # a failed call has nothing to analyze
    assert query(env, f"SELECT count(*) FROM segments WHERE call_date = DATE '{DAY}' AND sentiment IS NULL") == [(0,)]


def run_day(env, second: int, conf: dict) -> str:
    """Another run for DAY (its logical date a few seconds into the day)."""
    stack = env["stack"]
    run_id = stack.trigger(DAG_ID, f"{DAY}T00:00:{second:02d}Z", conf)
    assert stack.wait_run(DAG_ID, run_id, timeout=600) == "success", stack.logs_tail()
    return run_id


def test_an_llm_run_analyzes_loaded_calls_again_without_transcribing_them(env, day_run):
    chat, fake = env["chat"], env["fake"]
    jobs_before, requests_before = fake.stats()["jobs_created"], len(chat.chat_requests)
    run_day(env, 1, {"insights": "llm"})
    rows = query(env, f"SELECT analyzer, model, error, input_tokens > 0 FROM call_insights WHERE call_date = DATE '{DAY}'")
    assert rows == [("llm", chat.default_model, None, True)] * 5
    assert len(chat.chat_requests) - requests_before == 5
    assert fake.stats()["jobs_created"] == jobs_before
    prompt = next(m["content"] for m in chat.chat_requests[-1].messages if m["role"] == "user")
    assert "s] agent (" in prompt or "s] customer (" in prompt  # speaker-labelled, with times


def test_rerunning_the_day_with_the_same_llm_makes_no_new_request(env, day_run):
    chat = env["chat"]
    run_day(env, 2, {"insights": "llm"})  # the day's insights are the llm's now, whatever ran before
    before = len(chat.chat_requests)
    run_day(env, 3, {"insights": "llm"})
    assert len(chat.chat_requests) == before
