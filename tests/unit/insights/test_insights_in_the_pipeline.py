"""Insights in the pipeline: planning catch-up, the analyze step, staging, loading."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from callmine.batch_rows import BatchRows
from callmine.insights.model import CallInsights, InsightsResult
from callmine.insights.tables import call_texts, insights_rows
from callmine.operators.analyze import AnalyzeBatchOperator
from callmine.pipeline import load_day, plan_day, stale_insights
from callmine.providers.pyai_result import normalize_pyai_result
from callmine.recordings import Batch, Recording, RunSettings, make_batches
from callmine.trackers import load_trackers
from callmine.transcript import Diarization
from callmine.triggers.insights import LLMInsightsTrigger
from callmine.warehouse import Warehouse
from tests.fake_openai_chat import FakeOpenAIChat

ROOT = Path(__file__).resolve().parents[3]
DAY = date(2026, 11, 20)
DOC = {
    "audio_seconds": 12.0,
    "segments": [
        {"start": 0.0, "end": 3.0, "text": "Thank you for calling Acme, how can I help?", "channel": 0},
        {"start": 3.5, "end": 8.0, "text": "I was charged twice and I am really unhappy about it.", "channel": 1},
        {"start": 8.5, "end": 12.0, "text": "I'm sorry. I will send you the refund by Friday.", "channel": 0},
    ],
    "words": [
        {"start": s["start"] + i * 0.3, "end": s["start"] + i * 0.3 + 0.25, "word": w, "channel": s["channel"]}
        for s in [
            {"start": 0.0, "channel": 0, "text": "Thank you for calling Acme, how can I help?"},
            {"start": 3.5, "channel": 1, "text": "I was charged twice and I am really unhappy about it."},
            {"start": 8.5, "channel": 0, "text": "I'm sorry. I will send you the refund by Friday."},
        ]
        for i, w in enumerate(s["text"].split())
    ],
}


def settings(tmp_path: Path, insights: str = "lexical", run_id: str = "manual__1") -> RunSettings:
    return RunSettings(call_date=DAY.isoformat(), run_id=run_id, source_uri=str(tmp_path / "in"),
                       warehouse_uri=str(tmp_path / "wh"), insights=insights)


def recording(call_id: str) -> Recording:
    return Recording(call_id=call_id, source_uri=f"file:///in/{call_id}.wav", call_date=DAY.isoformat(),
                     format="wav", size_bytes=100, duration_s=12.0, channels=2)


def staged_batch(s: RunSettings, call_ids: list[str], batch_id: str = "2026-11-20/b000") -> Batch:
    """A batch whose transcription is staged, as the transcribe task leaves it."""
    rows = BatchRows(s, load_trackers(ROOT / "include/trackers/default.yaml"))
    for cid in call_ids:
        rows.add_completed(recording(cid), f"job_{cid}", normalize_pyai_result(DOC, Diarization.CHANNEL), 12.0, {})
    Warehouse(s.warehouse_uri).stage(s.run_key, batch_id.replace("/", "_"), rows.tables())
    return Batch(batch_id, s, [recording(c) for c in call_ids])


def load_with_lexical_insights(tmp_path: Path, call_ids: list[str], run_id: str = "manual__1") -> RunSettings:
    s = settings(tmp_path, run_id=run_id)
    batch = staged_batch(s, call_ids)
    AnalyzeBatchOperator(task_id="analyze", batch=batch.to_dict()).execute({})
    load_day(s)
    return s


def test_segments_carry_vader_sentiment_whatever_the_analyzer(tmp_path):
    s = settings(tmp_path, insights="off")
    rows = BatchRows(s, load_trackers(ROOT / "include/trackers/default.yaml"))
    rows.add_completed(recording("call_a"), "job_1", normalize_pyai_result(DOC, Diarization.CHANNEL), 12.0, {})
    segments = rows.tables()["segments"]
    assert segments.column("sentiment").to_pylist()[1] == "negative"
    assert segments.column("sentiment_score").to_pylist()[1] < -0.05


def test_call_texts_give_each_turn_its_role_and_time_in_segment_order(tmp_path):
    s = settings(tmp_path)
    staged_batch(s, ["call_a"])
    staged = Warehouse(s.warehouse_uri).staged_batch(s.run_key, "2026-11-20_b000")
    [call] = call_texts(staged["segments"], staged["speaker_metrics"], staged["calls"])
    assert [(t.role, t.start_s) for t in call.turns] == [("agent", 0.0), ("customer", 3.5), ("agent", 8.5)]
    assert call.duration_s == 12.0 and len(call.transcript_hash) == 32
    assert "[3.5s-8.0s] customer (ch1): I was charged twice" in call.render()


def test_a_failed_analysis_is_a_row_with_its_error_and_no_invented_fields():
    failed = InsightsResult("call_a", "llm", "m", "v1", "h", insights=CallInsights(summary="x"), error="invalid JSON")
    [row] = insights_rows([failed]).to_pylist()
    assert row["error"] == "invalid JSON"
    assert row["summary"] is None and row["sentiment"] is None and row["action_items"] is None


def test_the_lexical_step_stages_one_insights_row_per_completed_call(tmp_path):
    s = settings(tmp_path)
    batch = staged_batch(s, ["call_a", "call_b"])
    summary = AnalyzeBatchOperator(task_id="analyze", batch=batch.to_dict()).execute({})
    assert summary["analyzed"] == 2
    rows = Warehouse(s.warehouse_uri).staged_tables(s.run_key)["call_insights"].to_pylist()
    assert {r["call_id"] for r in rows} == {"call_a", "call_b"}
    assert {r["model"] for r in rows} == {"callmine-lexical-1"}
    assert all(r["sentiment"] in ("positive", "neutral", "negative") for r in rows)
    assert any("refund by Friday" in item for r in rows for item in r["action_items"])


def test_insights_off_stages_nothing(tmp_path):
    s = settings(tmp_path, insights="off")
    batch = staged_batch(s, ["call_a"])
    assert AnalyzeBatchOperator(task_id="analyze", batch=batch.to_dict()).execute({})["analyzed"] == 0
    assert Warehouse(s.warehouse_uri).staged_tables(s.run_key)["call_insights"].num_rows == 0


def test_the_llm_step_defers_to_a_trigger_carrying_no_transcript(tmp_path):
    s = settings(tmp_path, insights="llm")
    batch = staged_batch(s, ["call_a"])
    with pytest.raises(TaskDeferred) as deferred:
        AnalyzeBatchOperator(task_id="analyze", batch=batch.to_dict()).execute({})
    _, kwargs = deferred.value.trigger.serialize()
    assert "charged twice" not in json.dumps(kwargs)  # the transcript travels in a staged file
    assert json.loads(Path(kwargs["input_uri"]).read_text())[0]["call_id"] == "call_a"


def test_a_configuration_error_of_the_llm_fails_the_task_without_retries(tmp_path):
    batch = staged_batch(settings(tmp_path, insights="llm"), ["call_a"])
    op = AnalyzeBatchOperator(task_id="analyze", batch=batch.to_dict())
    with pytest.raises(AirflowFailException, match="rejected the API key"):
        op.execute_complete({}, {"status": "error", "message": "LLM endpoint rejected the API key"})


def test_the_llm_trigger_analyzes_the_staged_calls_with_the_endpoint(tmp_path, monkeypatch):
    s = settings(tmp_path, insights="llm")
    batch = staged_batch(s, ["call_a", "call_b"])
    with FakeOpenAIChat() as fake:
        conn = {"conn_type": "http", "host": fake.base_url, "password": fake.api_key,
                "extra": {"model": fake.default_model}}
        monkeypatch.setenv("AIRFLOW_CONN_LLM_DEFAULT", json.dumps(conn))
        with pytest.raises(TaskDeferred) as deferred:
            AnalyzeBatchOperator(task_id="analyze", batch=batch.to_dict()).execute({})
        event = asyncio.run(_first_event(deferred.value.trigger))
        prompts = [m["content"] for r in fake.chat_requests for m in r.messages if m["role"] == "user"]
    assert event["status"] == "success" and len(event["results"]) == 2
    assert any("customer (ch1): I was charged twice" in p for p in prompts)
    AnalyzeBatchOperator(task_id="analyze", batch=batch.to_dict()).execute_complete({}, event)
    rows = Warehouse(s.warehouse_uri).staged_tables(s.run_key)["call_insights"].to_pylist()
    assert {r["analyzer"] for r in rows} == {"llm"} and all(r["input_tokens"] > 0 for r in rows)


def test_the_llm_trigger_turns_a_rejected_key_into_an_error_event(tmp_path, monkeypatch):
    batch = staged_batch(settings(tmp_path, insights="llm"), ["call_a"])
    with FakeOpenAIChat() as fake:
        conn = {"conn_type": "http", "host": fake.base_url, "password": "wrong-key-123456",
                "extra": {"model": fake.default_model}}
        monkeypatch.setenv("AIRFLOW_CONN_LLM_DEFAULT", json.dumps(conn))
        trigger = LLMInsightsTrigger(batch_id=batch.batch_id, input_uri=_input_file(tmp_path, batch))
        event = asyncio.run(_first_event(trigger))
    assert event["status"] == "error" and "wrong-key-123456" not in event["message"]


def test_loaded_calls_with_insights_of_another_analyzer_are_planned_for_catch_up(tmp_path, monkeypatch):
    load_with_lexical_insights(tmp_path, ["call_a", "call_b"])
    warehouse = Warehouse(str(tmp_path / "wh"))
    assert stale_insights(warehouse, DAY, "lexical", {"call_a", "call_b"}) == set()
    monkeypatch.setenv("AIRFLOW_CONN_LLM_DEFAULT", json.dumps(
        {"conn_type": "http", "host": "http://127.0.0.1:9/v1", "password": "k", "extra": {"model": "m1"}}))
    assert stale_insights(warehouse, DAY, "llm", {"call_a", "call_b"}) == {"call_a", "call_b"}


def test_catch_up_batches_carry_calls_to_analyze_and_no_recordings(tmp_path):
    batches = make_batches([recording("call_new")], settings(tmp_path), 2, reanalyze=["c3", "c1", "c2"])
    assert [(b.batch_id, len(b.recordings), b.reanalyze) for b in batches] == [
        ("2026-11-20/b000", 1, []), ("2026-11-20/i000", 0, ["c1", "c2"]), ("2026-11-20/i001", 0, ["c3"]),
    ]


def test_a_run_plans_catch_up_for_loaded_calls_without_insights(tmp_path):
    s = settings(tmp_path, insights="off")
    staged_batch(s, ["call_a"])
    load_day(s)  # loaded with insights off: no insights row
    (tmp_path / "in").mkdir()
    batches = plan_day(settings(tmp_path, run_id="manual__2"), batch_size=10)
    assert [(b["batch_id"], b["reanalyze"]) for b in batches] == [("2026-11-20/i000", ["call_a"])]


def test_catch_up_replaces_only_the_insights_of_loaded_calls(tmp_path):
    load_with_lexical_insights(tmp_path, ["call_a"])
    warehouse = Warehouse(str(tmp_path / "wh"))
    segments_before = warehouse.read_partition("segments", DAY)
    s = settings(tmp_path, run_id="manual__2")
    catch_up = Batch("2026-11-20/i000", s, [], ["call_a"])
    AnalyzeBatchOperator(task_id="analyze", batch=catch_up.to_dict()).execute({})
    summary = load_day(s)
    assert summary["insights_caught_up"] == 1
    assert warehouse.read_partition("segments", DAY).equals(segments_before)
    assert warehouse.read_partition("call_insights", DAY).num_rows == 1


def test_insights_can_only_be_caught_up_for_calls_that_are_loaded(tmp_path):
    load_with_lexical_insights(tmp_path, ["call_a"])
    stray = insights_rows([InsightsResult("call_zz", "lexical", "m", "v", "h", insights=CallInsights())])
    with pytest.raises(ValueError, match="call_zz"):
        Warehouse(str(tmp_path / "wh")).replace_insights(DAY, stray)


async def _first_event(trigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger yielded nothing")


def _input_file(tmp_path: Path, batch: Batch) -> str:
    from callmine.insights.tables import call_to_json

    staged = Warehouse(str(tmp_path / "wh")).staged_batch(batch.settings.run_key, "2026-11-20_b000")
    calls = call_texts(staged["segments"], staged["speaker_metrics"], staged["calls"])
    path = tmp_path / "input.json"
    path.write_text(json.dumps([call_to_json(c) for c in calls]))
    return str(path)


