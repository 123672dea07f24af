"""Progress lines while a local run works: per day and per batch.

Two sources: ``airflow dags test`` prints its log to stdout (we keep callmine's own
lines and the task starts/ends), and a deployment's runs are watched through its REST
API (each task instance's state changes are printed once).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# structlog console lines: "<timestamp> [info     ] <message> [<logger>] k=v ..."
_LOG_LINE = re.compile(r"^\S+ \[(?P<level>\w+)\s*\] (?P<message>.*?)\s+\[(?P<logger>[\w.]+)\](?: |$)")
_DAG_TEST = re.compile(r"\[DAG TEST\] (?P<what>starting|end task) task_id=(?P<task>\S+) map_index=(?P<index>-?\d+)")


def dags_test_line(line: str) -> str | None:
    """The progress line for one line of ``airflow dags test`` output, or None to hide it."""
    match = _LOG_LINE.match(line)
    if not match:
        return None
    level, message, logger = match["level"], match["message"], match["logger"]
    if test := _DAG_TEST.search(message):
        if test["what"] != "end task":
            return None
        index = "" if test["index"] == "-1" else f"[{test['index']}]"
        return f"  done: {test['task']}{index}"
    if "callmine" in logger:
        return f"  {message}" if level == "info" else f"  {level.upper()}: {message}"
    if level in ("error", "critical"):
        return f"  {level.upper()}: {message}"
    return None


@dataclass
class RunWatcher:
    """Prints each task instance's state changes across the runs of a backfill or a trigger."""

    print_line: Callable[[str], None] = print
    _seen: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def update(self, day: str, task_instances: list[dict[str, Any]]) -> None:
        for ti in sorted(task_instances, key=_order):
            name = ti["task_id"]
            label = ti.get("rendered_map_index")
            if ti.get("map_index", -1) >= 0:
                name = f"{name} {label or ti['map_index']}"
            state = ti.get("state") or "scheduled"
            key = (day, ti["task_id"], str(ti.get("map_index", -1)))
            # "removed": a batch of an earlier run of the day that this run did not cut again.
            if self._seen.get(key) != state and state not in ("none", "scheduled", "queued", "removed"):
                self._seen[key] = state
                self.print_line(f"  {day}  {name:<34} {state}")


_TASK_ORDER = {"discover": 0, "submit": 1, "wait": 2, "stage": 3, "analyze": 4, "load": 5, "report": 6}


def _order(ti: dict[str, Any]) -> tuple[int, int]:
    return _TASK_ORDER.get(ti["task_id"], 9), ti.get("map_index", -1)
