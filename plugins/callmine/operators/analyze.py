"""Analyze one batch's calls (summary, action items, sentiment, phases, dimensions); stage the rows.

The calls are the batch's newly transcribed ones (read from its staged rows) and, for
catch-up batches, already-loaded calls whose insights are missing or stale (read from
the warehouse: nothing is transcribed again). ``lexical`` runs here, in the worker (it
is fast and CPU-bound); ``llm`` defers to a trigger, so no worker slot waits on a model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import pyarrow.compute as pc
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from callmine.object_store import split_conn_id, with_conn_id
from callmine.config import resolve_uri
from callmine.recordings import Batch
from callmine.triggers.insights import LLMInsightsTrigger

INSIGHTS_SUFFIX = "_insights"


def insights_stage_name(batch_id: str) -> str:
    return batch_id.replace("/", "_") + INSIGHTS_SUFFIX


class AnalyzeBatchOperator(BaseOperator):
    """One mapped instance per batch, after its transcription.

    :param batch: a ``Batch.to_dict()`` (from the discover task).
    :param llm_concurrency: requests in flight per batch (the LLM trigger's semaphore).
    :param llm_conn_id: the Airflow connection of the chat endpoint.
    """

    template_fields: Sequence[str] = ("batch",)
    ui_color = "#e8f5e0"

    def __init__(self, *, batch: dict[str, Any], llm_conn_id: str = "llm_default", llm_concurrency: int = 8,
                 context_budget_tokens: int = 24_000, llm_timeout_s: float = 3 * 3600, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch = batch
        self.llm_conn_id = llm_conn_id
        self.llm_concurrency = llm_concurrency
        self.context_budget_tokens = context_budget_tokens
        self.llm_timeout_s = llm_timeout_s

    def execute(self, context: Any) -> dict[str, Any]:
        from callmine.insights.lexical import LexicalAnalyzer
        from callmine.insights.tables import call_to_json

        batch = Batch.from_dict(self.batch)
        kind = batch.settings.insights
        if kind == "off":
            self.log.info("batch %s: insights off", batch.batch_id)
            return {"batch_id": batch.batch_id, "analyzed": 0}
        calls = self._calls(batch)
        if not calls:
            self.log.info("batch %s: no completed call to analyze", batch.batch_id)
            self._stage(batch, [])
            return {"batch_id": batch.batch_id, "analyzed": 0}
        if kind == "lexical":
            return self._stage(batch, [LexicalAnalyzer().analyze(call) for call in calls])
        warehouse = self._warehouse(batch)
        input_uri = warehouse.stage_json(batch.settings.run_key, insights_stage_name(batch.batch_id),
                                         json.dumps([call_to_json(c) for c in calls]).encode())
        # The trigger reads it with the warehouse's connection (a connection id, never a secret).
        input_uri = with_conn_id(input_uri, split_conn_id(batch.settings.warehouse_uri)[1])
        self.log.info("batch %s: %d call(s) to the LLM (%d at a time)", batch.batch_id, len(calls),
                      self.llm_concurrency)
        self.defer(
            trigger=LLMInsightsTrigger(batch_id=batch.batch_id, input_uri=input_uri, conn_id=self.llm_conn_id,
                                       concurrency=self.llm_concurrency,
                                       context_budget_tokens=self.context_budget_tokens),
            method_name="execute_complete",
            timeout=self.llm_timeout_s,
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from callmine.insights.tables import result_from_json

        batch = Batch.from_dict(self.batch)
        if event.get("status") != "success":
            # A configuration error (bad key, unknown model): retries cannot fix it.
            raise AirflowFailException(f"batch {batch.batch_id}: insights failed: {event.get('message')}")
        return self._stage(batch, [result_from_json(r) for r in event["results"]])

    # -- helpers ---------------------------------------------------------------------------
    def _warehouse(self, batch: Batch):
        from callmine.warehouse import Warehouse

        return Warehouse(resolve_uri(batch.settings.warehouse_uri))

    def _calls(self, batch: Batch) -> list:
        """Newly transcribed calls of the batch, then its catch-up calls from the warehouse."""
        from callmine.insights.tables import call_texts

        warehouse = self._warehouse(batch)
        staged = warehouse.staged_batch(batch.settings.run_key, batch.batch_id.replace("/", "_"))
        calls = staged["calls"].filter(pc.equal(staged["calls"].column("status"), "completed"))
        # Calls the speech service analyzed itself (CallMissed) keep the service's insights.
        analyzed = staged["call_insights"].column("call_id").combine_chunks()
        calls = calls.filter(pc.invert(pc.is_in(calls.column("call_id"), value_set=analyzed)))
        texts = call_texts(staged["segments"], staged["speaker_metrics"], calls)
        if batch.reanalyze:
            day = date.fromisoformat(batch.settings.call_date)
            texts += call_texts(
                warehouse.read_calls("segments", day, batch.reanalyze),
                warehouse.read_calls("speaker_metrics", day, batch.reanalyze),
                warehouse.read_calls("calls", day, batch.reanalyze),
            )
        return texts

    def _stage(self, batch: Batch, results: list) -> dict[str, Any]:
        from callmine.insights.tables import insights_rows

        tables = {"call_insights": insights_rows(results)} if results else {}
        self._warehouse(batch).stage(batch.settings.run_key, insights_stage_name(batch.batch_id), tables)
        failed = sum(1 for r in results if r.error)
        for r in results:
            if r.error:
                self.log.warning("batch %s: insights for call %s failed: %s", batch.batch_id, r.call_id, r.error)
        summary = {"batch_id": batch.batch_id, "analyzed": len(results) - failed, "failed": failed,
                   "input_tokens": sum(r.input_tokens or 0 for r in results),
                   "output_tokens": sum(r.output_tokens or 0 for r in results)}
        self.log.info("batch %s insights staged: %s", batch.batch_id, summary)
        return summary
