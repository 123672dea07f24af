"""``callmine ask``: a question to one call (or a day's calls), answered from the transcript.

With an LLM configured (Airflow connection ``llm_default``) the answer cites the segments
it relied on; without one it says so plainly and shows the segments that best match the
question (keyword search over the call).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from callmine.insights.ask import Answer, ask, best_matching_turns
from callmine.insights.model import CallText, Turn
from callmine.insights.tables import call_texts
from callmine.warehouse.catalog import connect

NO_LLM = (
    "No LLM is configured, so there is no answer, only the segments that best match the question.\n"
    "To get answers, set the Airflow connection llm_default, e.g.\n"
    '  export AIRFLOW_CONN_LLM_DEFAULT=\'{"conn_type": "http", "host": "https://api.openai.com/v1", '
    '"password": "<key>", "extra": {"model": "gpt-4o-mini"}}\''
)


def load_calls(warehouse_uri: str, call_id: str | None = None, call_date: str | None = None) -> list[CallText]:
    """The completed calls asked about, as analyzers see them."""
    where, params = ("call_id = ?", [call_id]) if call_id else ("call_date = ?::DATE", [call_date])
    with connect(warehouse_uri) as con:
        calls = con.sql(f"SELECT call_id, duration_s FROM calls WHERE {where} AND status = 'completed' "
                        "ORDER BY call_id", params=params).to_arrow_table()
        ids = calls.column("call_id").to_pylist()
        if not ids:
            return []
        segments = con.sql("SELECT call_id, segment_idx, speaker, start_s, end_s, text FROM segments "
                           "WHERE list_contains(?, call_id)", params=[ids]).to_arrow_table()
        metrics = con.sql("SELECT call_id, speaker, role FROM speaker_metrics WHERE list_contains(?, call_id)",
                          params=[ids]).to_arrow_table()
    return call_texts(segments, metrics, calls)


def answer_questions(calls: list[CallText], question: str, analyzer_factory: Callable[[], object] | None,
                     say: Callable[[str], None] = print) -> int:
    """Print an answer per call; returns the exit code (0, or 1 when the LLM failed)."""
    failed = 0
    for call in calls:
        say(f"== {call.call_id}")
        if analyzer_factory is None:
            _show_turns(best_matching_turns(call, question), say)
            continue
        answer: Answer = asyncio.run(ask(analyzer_factory(), call, question))
        if answer.error:
            failed += 1
            say(f"The LLM gave no usable answer ({answer.error}); the best-matching segments:")
            _show_turns(best_matching_turns(call, question), say)
            continue
        say(answer.answer)
        by_idx = {t.segment_idx: t for t in call.turns}
        say("Based on:")
        _show_turns([by_idx[c.segment_idx] for c in answer.citations if c.segment_idx in by_idx], say)
    return 1 if failed else 0


def _show_turns(turns: list[Turn], say: Callable[[str], None]) -> None:
    if not turns:
        say("  (no segment mentions the question's words)")
    for t in turns:
        when = f"[{t.start_s:.1f}s-{t.end_s:.1f}s] " if t.start_s is not None and t.end_s is not None else ""
        say(f"  {when}{t.label}: {t.text}")
