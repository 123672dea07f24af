"""The REST API and CLI calls a test, a benchmark or ``callmine run`` makes to a running local Airflow.

``AirflowStack`` (stack.py) starts and stops the processes and inherits these; a subclass
provides ``base_url``, ``admin_password()``, ``airflow(*args)`` and ``_token``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

ADMIN_USER = "admin"


class AirflowApi:
    base_url: str
    _token: str | None

    def admin_password(self) -> str | None:
        raise NotImplementedError

    def airflow(self, *args: str, check: bool = True, timeout: float = 300) -> Any:
        raise NotImplementedError

    def token(self) -> str:
        if self._token is None:
            password = self.admin_password()
            body = {"username": ADMIN_USER, "password": password} if password else {}
            response = httpx.post(f"{self.base_url}/auth/token", json=body, timeout=30)
            if response.status_code >= 400 and not password:
                response = httpx.get(f"{self.base_url}/auth/token", timeout=30)
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method, f"{self.base_url}/api/v2{path}", headers={"Authorization": f"Bearer {self.token()}"},
            timeout=60, **kwargs,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def wait_dag(self, dag_id: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api("GET", f"/dags/{dag_id}")
                return
            except RuntimeError:
                time.sleep(2)
        errors = self.api("GET", "/importErrors")
        raise TimeoutError(f"DAG {dag_id} not parsed after {timeout}s; import errors: {errors}")

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, logical_date: str, conf: dict[str, Any] | None = None) -> str:
        run = self.api(
            "POST", f"/dags/{dag_id}/dagRuns",
            json={"logical_date": logical_date, "conf": conf or {}},
        )
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        state = "unknown"
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"run {run_id} still {state} after {timeout}s")

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (the API pages at 100)."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                            params={"limit": 100, "offset": len(out)})
            out.extend(page["task_instances"])
            if not page["task_instances"] or len(out) >= page["total_entries"]:
                return out

    def clear_run(self, dag_id: str, run_id: str) -> None:
        self.api("POST", f"/dags/{dag_id}/dagRuns/{run_id}/clear", json={"dry_run": False})

    def backfill(
        self, dag_id: str, from_date: str, to_date: str, timeout: float = 900, *,
        conf: dict[str, Any] | None = None, reprocess: str | None = None,
        on_poll: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """``airflow backfill create`` (the operator's command), then wait for the backfill to complete.

        Returns the backfill's runs. Days that already had a run (e.g. the scheduler's
        latest interval) are skipped by the default reprocess behaviour, as in production;
        ``reprocess="completed"`` runs them again. ``on_poll(runs)`` gets the backfill's
        runs on every poll (progress output).
        """
        args = ["backfill", "create", "--dag-id", dag_id, "--from-date", from_date, "--to-date", to_date]
        if conf:
            args += ["--dag-run-conf", json.dumps(conf)]
        if reprocess:
            args += ["--reprocess-behavior", reprocess]
        self.airflow(*args)
        newest = max(self.api("GET", "/backfills", params={"dag_id": dag_id})["backfills"], key=lambda b: b["id"])

        created = _timestamp(newest["created_at"])

        def backfill_runs() -> list[dict[str, Any]]:
            # The run listing does not name the backfill. Its runs are the backfill runs in range
            # queued since it was created (a reprocessed day re-queues its existing run).
            return sorted(
                (r for r in self.runs(dag_id)
                 if r["run_type"] == "backfill" and from_date <= r["logical_date"][:10] <= to_date
                 and r.get("queued_at") and _timestamp(r["queued_at"]) >= created),
                key=lambda r: r["logical_date"],
            )

        deadline = time.monotonic() + timeout
        while self.api("GET", f"/backfills/{newest['id']}")["completed_at"] is None:
            if on_poll:
                on_poll(backfill_runs())
            if time.monotonic() > deadline:
                raise TimeoutError(f"backfill {from_date}..{to_date} not complete after {timeout}s")
            time.sleep(3)
        runs = backfill_runs()
        if on_poll:
            on_poll(runs)
        return runs


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
