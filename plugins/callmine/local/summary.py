"""The end of ``callmine run``: what the run's days hold in the warehouse, read with DuckDB."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from callmine.warehouse.catalog import connect
from callmine.warehouse.query import QueryResult, format_table, run_script

_PER_DAY = """
SELECT call_date,
       count(*)                                     AS calls,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'failed')    AS failed,
       round(sum(duration_s) / 60, 1)               AS audio_min
FROM calls WHERE call_date IN ({days}) AND starts_with(source_uri, {source})
GROUP BY call_date ORDER BY call_date;
"""

_PER_CALL = """
SELECT c.call_date, c.call_id,
       regexp_extract(c.source_uri, '[^/]*$')       AS recording,
       c.status, round(c.duration_s, 1)             AS duration_s,
       c.speakers,
       round(max(m.talk_ratio) FILTER (WHERE m.role = 'agent'), 2) AS agent_talk_ratio,
       c.error
FROM calls c LEFT JOIN speaker_metrics m USING (call_id)
WHERE c.call_date IN ({days}) AND starts_with(c.source_uri, {source})
GROUP BY ALL ORDER BY c.call_date, recording;
"""


_INSIGHTS = """
SELECT regexp_extract(c.source_uri, '[^/]*$') AS recording, i.sentiment, i.summary, i.action_items, i.error
FROM call_insights i JOIN calls c USING (call_id)
WHERE c.call_date IN ({days}) AND starts_with(c.source_uri, {source})
ORDER BY c.call_date, recording;
"""


def day_summary(warehouse_uri: str, source: str, days: Sequence[str], max_rows: int = 200) -> list[QueryResult]:
    """The days' calls from ``source``: per-day totals, one row per call (status, duration, error), insights."""
    in_list = ", ".join(f"DATE '{date.fromisoformat(d)}'" for d in days)
    prefix = source if "://" in source else Path(source).resolve().as_uri()
    quoted = "'" + prefix.rstrip("/").replace("'", "''") + "/'"
    with connect(warehouse_uri) as con:
        sql = "".join(q.format(days=in_list, source=quoted) for q in (_PER_DAY, _PER_CALL, _INSIGHTS))
        return list(run_script(con, sql, max_rows=max_rows))


def format_summary(warehouse_uri: str, source: str, days: Sequence[str]) -> str:
    return "\n\n".join(format_table(r) for r in day_summary(warehouse_uri, source, days))
