"""Between warehouse rows and analyzers: segments -> CallText, InsightsResult -> call_insights rows.

Also the JSON shapes that carry calls and results through a trigger (files and events
must be plain JSON).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from callmine.insights.model import CallInsights, CallText, InsightsResult, Turn
from callmine.warehouse.schema import TABLES


def call_texts(segments: pa.Table, metrics: pa.Table | None, calls: pa.Table) -> list[CallText]:
    """One CallText per call in ``calls`` that has segments (roles from speaker_metrics)."""
    roles: dict[tuple[str, str], str | None] = {}
    if metrics is not None and metrics.num_rows:
        for cid, speaker, role in zip(*(metrics.column(c).to_pylist() for c in ("call_id", "speaker", "role"))):
            roles[(cid, speaker)] = role
    turns: dict[str, list[Turn]] = defaultdict(list)
    columns = ("call_id", "segment_idx", "speaker", "start_s", "end_s", "text")
    for cid, idx, speaker, start, end, text in zip(*(segments.column(c).to_pylist() for c in columns)):
        turns[cid].append(Turn(idx, speaker or "", roles.get((cid, speaker or "")), start, end, text or ""))
    durations = dict(zip(calls.column("call_id").to_pylist(), calls.column("duration_s").to_pylist()))
    out = []
    for cid, duration in durations.items():
        if cid in turns:
            ordered = tuple(sorted(turns[cid], key=lambda t: t.segment_idx))
            out.append(CallText(cid, duration, ordered, transcript_hash(ordered)))
    return out


def transcript_hash(turns: tuple[Turn, ...]) -> str:
    """Identifies what an analyzer read: speakers, roles, times and text of every turn."""
    digest = hashlib.sha256()
    for t in turns:
        digest.update(f"{t.segment_idx}\x1f{t.speaker}\x1f{t.role}\x1f{t.start_s}\x1f{t.end_s}\x1f{t.text}\x1e".encode())
    return digest.hexdigest()[:32]


def insights_rows(results: list[InsightsResult], generated_at: datetime | None = None) -> pa.Table:
    """``call_insights`` rows; a failed analysis keeps its error and no insight fields."""
    at = generated_at or datetime.now(timezone.utc)
    rows = []
    for r in results:
        row: dict[str, Any] = {
            "call_id": r.call_id, "analyzer": r.analyzer, "model": r.model, "prompt_version": r.prompt_version,
            "transcript_hash": r.transcript_hash, "error": r.error, "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens, "generated_at": at,
        }
        if r.insights is not None and r.error is None:
            row.update(_insight_fields(r.insights))
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=TABLES["call_insights"])


def _insight_fields(ins: CallInsights) -> dict[str, Any]:
    d = ins.dimensions
    return {
        "summary": ins.summary,
        "action_items": [a.text for a in ins.action_items],
        "action_item_details": [a.model_dump() for a in ins.action_items],
        "sentiment": ins.sentiment,
        "sentiment_score": ins.sentiment_score,
        "phases": [p.model_dump() for p in ins.phases],
        "intent": d.intent, "resolution": d.resolution, "agent_performance": d.agent_performance,
        "escalation_risk": d.escalation_risk, "key_topics": list(d.key_topics), "compliance": d.compliance,
        "satisfaction_score": d.satisfaction_score,
    }


# -- JSON through a trigger ---------------------------------------------------------------


def call_to_json(call: CallText) -> dict[str, Any]:
    return {
        "call_id": call.call_id, "duration_s": call.duration_s, "transcript_hash": call.transcript_hash,
        "turns": [[t.segment_idx, t.speaker, t.role, t.start_s, t.end_s, t.text] for t in call.turns],
    }


def call_from_json(data: dict[str, Any]) -> CallText:
    turns = tuple(Turn(*t) for t in data["turns"])
    return CallText(data["call_id"], data["duration_s"], turns, data["transcript_hash"])


def result_to_json(result: InsightsResult) -> dict[str, Any]:
    return {
        "call_id": result.call_id, "analyzer": result.analyzer, "model": result.model,
        "prompt_version": result.prompt_version, "transcript_hash": result.transcript_hash,
        "insights": result.insights.model_dump(mode="json") if result.insights else None,
        "error": result.error, "input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
    }


def result_from_json(data: dict[str, Any]) -> InsightsResult:
    insights = CallInsights.model_validate(data["insights"]) if data.get("insights") else None
    return InsightsResult(
        call_id=data["call_id"], analyzer=data["analyzer"], model=data["model"],
        prompt_version=data["prompt_version"], transcript_hash=data["transcript_hash"], insights=insights,
        error=data.get("error"), input_tokens=data.get("input_tokens"), output_tokens=data.get("output_tokens"),
    )
