"""One trigger per batch: the LLM requests of the batch's calls, so no worker slot waits on a model.

Thin: it reads the calls the operator staged (a JSON file: transcripts are too big for
trigger arguments), runs the analyzer's bounded-concurrency loop and yields exactly one
event holding the results. It holds no secret: the key is looked up from the connection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from callmine.object_store import open_file


class LLMInsightsTrigger(BaseTrigger):
    """Event payload: ``status`` (``success`` | ``error``), ``batch_id``, ``results`` (one JSON
    result per call, see ``callmine.insights.tables.result_to_json``) or ``message``."""

    def __init__(self, *, batch_id: str, input_uri: str, conn_id: str = "llm_default", concurrency: int = 8,
                 context_budget_tokens: int = 24_000) -> None:
        super().__init__()
        self.batch_id = batch_id
        self.input_uri = input_uri
        self.conn_id = conn_id
        self.concurrency = concurrency
        self.context_budget_tokens = context_budget_tokens

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"batch_id": self.batch_id, "input_uri": self.input_uri, "conn_id": self.conn_id,
             "concurrency": self.concurrency, "context_budget_tokens": self.context_budget_tokens},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from callmine.hooks.llm import LLMConfigurationError, LLMHook
        from callmine.insights.llm import LLMAnalyzer
        from callmine.insights.tables import call_from_json, result_to_json

        try:
            calls = [call_from_json(c) for c in await asyncio.to_thread(self._read_input)]
            analyzer = LLMAnalyzer(LLMHook(self.conn_id), context_budget_tokens=self.context_budget_tokens)
            results = await analyzer.analyze_many(calls, concurrency=self.concurrency)
        except LLMConfigurationError as exc:  # bad key, unknown model...: the batch cannot succeed
            yield TriggerEvent({"status": "error", "batch_id": self.batch_id, "message": str(exc)})
            return
        self.log.info("batch %s: %d call(s) analyzed by %s, %d failed", self.batch_id, len(results),
                      analyzer.model, sum(1 for r in results if r.error))
        yield TriggerEvent({"status": "success", "batch_id": self.batch_id,
                            "results": [result_to_json(r) for r in results]})

    def _read_input(self) -> list[dict[str, Any]]:
        with open_file(self.input_uri) as handle:
            return json.load(handle)
