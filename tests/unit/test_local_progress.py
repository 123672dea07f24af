"""Progress lines of `callmine run`: what a user sees while a day runs."""

from __future__ import annotations

from callmine.local.progress import RunWatcher, dags_test_line

CALLMINE_LINE = (
    "2026-11-29T17:29:51.659421Z [info     ] batch 2026-11-20/b000: submitted 2 job(s), 0 rejected, 1 unreadable "
    "[airflow.task.operators.callmine.operators.submit.SubmitBatchOperator] loc=submit.py:134"
)


def test_callmine_log_lines_are_shown_without_their_logger_noise():
    assert dags_test_line(CALLMINE_LINE) == "  batch 2026-11-20/b000: submitted 2 job(s), 0 rejected, 1 unreadable"


def test_airflow_bookkeeping_lines_are_hidden():
    line = ("2026-11-29T17:29:50.466078Z [info     ] Task instance state updated "
            "[airflow.api_fastapi.execution_api.routes.task_instances] rows_affected=1")
    assert dags_test_line(line) is None


def test_finished_tasks_are_shown_with_their_map_index():
    line = ("2026-11-29T17:29:56.944227Z [info     ] [DAG TEST] end task task_id=wait map_index=0 "
            "[airflow.sdk.definitions.dag] loc=dag.py:1563")
    assert dags_test_line(line) == "  done: wait[0]"


def test_errors_from_any_logger_are_shown():
    line = "2026-11-29T17:29:56Z [error    ] Task failed with exception [task] loc=task_runner.py:1"
    assert dags_test_line(line) == "  ERROR: Task failed with exception"


def test_the_watcher_prints_each_batch_state_change_once():
    lines: list[str] = []
    watcher = RunWatcher(lines.append)
    batch = {"task_id": "wait", "map_index": 0, "rendered_map_index": "2026-11-20/b000", "state": "deferred"}
    watcher.update("2026-11-20", [batch])
    watcher.update("2026-11-20", [batch])
    watcher.update("2026-11-20", [{**batch, "state": "success"}])
    assert [line.split() for line in lines] == [
        ["2026-11-20", "wait", "2026-11-20/b000", "deferred"],
        ["2026-11-20", "wait", "2026-11-20/b000", "success"],
    ]
