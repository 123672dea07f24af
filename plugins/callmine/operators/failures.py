"""What a batch step leaves behind when it fails for good, so ``load`` can say why.

Every recording a run discovers must end in ``calls`` as completed or failed with a
reason. When a batch's submit, wait or stage fails (provider down past the retries, a
sensor timeout, a revoked key), its recordings never reach the stage; ``load`` then
records them as failed and retryable, with the reason the failing step wrote here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowRescheduleException, TaskDeferred

from callmine.config import resolve_uri
from callmine.recordings import Batch

F = TypeVar("F", bound=Callable[..., Any])
_NOT_FAILURES = (TaskDeferred, AirflowRescheduleException)  # control flow, not failures


def failure_name(batch_id: str) -> str:
    return batch_id.replace("/", "_") + "__failure"


def records_failure(step: str, batch_of: Callable[[Any], dict[str, Any]]) -> Callable[[F], F]:
    """Decorate a step's execute method: a failure is written to the run's staging area, then re-raised."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except _NOT_FAILURES:
                raise
            except Exception as exc:
                try:
                    record_failure(Batch.from_dict(batch_of(self)), step, exc)
                except Exception:  # noqa: BLE001 - never hide the real failure behind a bookkeeping one
                    self.log.exception("could not record the failure of %s", step)
                raise

        return wrapper  # type: ignore[return-value]

    return decorate


def record_failure(batch: Batch, step: str, exc: BaseException) -> None:
    from callmine.warehouse import Warehouse

    reason = " ".join(str(exc).split()) or type(exc).__name__
    body = {"batch_id": batch.batch_id, "step": step, "reason": reason[:500]}
    Warehouse(resolve_uri(batch.settings.warehouse_uri)).stage_json(
        batch.settings.run_key, failure_name(batch.batch_id), json.dumps(body).encode())


def read_failure(warehouse: Any, run_key: str, batch_id: str) -> dict[str, Any] | None:
    from callmine.warehouse.layout import staging_dir
    from callmine.warehouse.staging import JSON_DIR

    path = warehouse.storage.path(staging_dir(run_key, JSON_DIR), failure_name(batch_id) + ".json")
    content = warehouse.storage.read_bytes(path)
    return None if content is None else json.loads(content)
