"""The DAG file imports cleanly, does no I/O at parse time, and its params are valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "dags" / "call_archive_mining.py"


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["call_archive_mining"]


def test_dag_has_the_pipeline_tasks(dag):
    assert set(dag.task_ids) == {"discover", "submit", "wait", "stage", "analyze", "load", "report"}


def test_each_batch_goes_submit_then_deferrable_sensor_then_stage(dag):
    wait = dag.get_task("wait")
    assert wait.upstream_task_ids == {"submit"} and "stage" in wait.downstream_task_ids
    assert type(wait).__name__ == "TranscriptionJobsSensor"
    assert wait.deferrable
    assert "BaseSensorOperator" in {c.__name__ for c in type(wait).__mro__}


def test_each_batch_moves_on_its_own_in_a_mapped_task_group(dag):
    # Instance b002 of a step waits for instance b002 of the step before, not for every batch.
    groups = [dag.get_task(t).get_closest_mapped_task_group() for t in ("submit", "wait", "stage", "analyze")]
    assert groups[0] is not None and all(group is groups[0] for group in groups)
    assert dag.get_task("stage").upstream_task_ids == {"wait"}


def test_analyze_follows_stage_per_batch_and_load_waits_for_it(dag):
    analyze = dag.get_task("analyze")
    assert analyze.map_index_template == "{{ task.batch['batch_id'] }}"
    assert "stage" in analyze.upstream_task_ids and "load" in analyze.downstream_task_ids


def test_insights_param_defaults_to_the_offline_lexical_analyzer(dag):
    assert dag.params["insights"] == "lexical"
    assert dag.params.get_param("insights").schema["enum"] == ["lexical", "llm", "off"]


def test_transcribe_is_mapped_named_after_its_batch_and_retried(dag):
    task = dag.get_task("submit")
    assert task.map_index_template == "{{ task.batch['batch_id'] }}"
    assert task.retries >= 1


def test_load_runs_even_when_a_batch_failed(dag):
    assert dag.get_task("load").trigger_rule == "all_done"


def test_schedule_is_a_daily_data_interval_timetable(dag):
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression in ("@daily", "0 0 * * *")


def test_param_defaults_are_valid(dag):
    dag.params.validate()
    assert {"source_uri", "warehouse_uri", "provider", "batch_size", "trackers", "reprocess", "speakers",
            "language", "insights"} <= set(dag.params)


def test_param_defaults_come_from_the_environment(tmp_path):
    code = (
        "import runpy; ns = runpy.run_path(%r); "
        "p = ns['PARAMS']; print(p['source_uri'].value, p['warehouse_uri'].value, p['batch_size'].value)"
    ) % str(DAG_FILE)
    code = code.replace("p['batch_size'].value)", "p['batch_size'].value, p['language'].value)")
    env = {"CALLMINE_SOURCE_URI": "s3://calls/in", "CALLMINE_WAREHOUSE_URI": "/srv/wh", "CALLMINE_BATCH_SIZE": "7",
           "CALLMINE_LANGUAGE": "en"}
    out = _run(code, env)
    assert out.split() == ["s3://calls/in", "/srv/wh", "7", "en"]


def test_parsing_the_dag_file_does_no_file_or_network_io():
    # Imports (which read modules via io.open_code) are allowed; open() and sockets are not.
    code = (
        "import builtins, socket, runpy\n"
        "import callmine.operators.submit, callmine.sensors.transcription, callmine.operators.stage, callmine.pipeline, airflow.sdk\n"
        "def deny(*a, **k): raise AssertionError(f'I/O at parse time: {a[:1]}')\n"
        "builtins.open = deny; socket.socket.connect = deny\n"
        "runpy.run_path(%r)\nprint('clean')\n"
    ) % str(DAG_FILE)
    assert _run(code, {}).strip().endswith("clean")


def _run(code: str, env: dict[str, str]) -> str:
    import os

    full_env = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}", **env}
    result = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
