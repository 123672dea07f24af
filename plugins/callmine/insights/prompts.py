"""Prompts and answer schemas of the ``llm`` analyzer (and of ``callmine ask``).

Bump PROMPT_VERSION whenever a prompt or schema changes meaning: it is stored with
every insights row so old and new answers can be told apart.

The schemas are written for OpenAI strict structured output (every property required,
``additionalProperties: false``, optional values as ``[type, "null"]``) and mirror the
pydantic models in ``model.py``; ranges the strict subset may not enforce are stated in
descriptions and enforced by pydantic on parse (a violation triggers the repair retry).
"""

from __future__ import annotations

import json
from typing import Any

from callmine.insights.model import PHASE_NAMES, CallText, Turn

PROMPT_VERSION = "llm-v1"


def _obj(properties: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties, "required": list(properties),
                           "additionalProperties": False}
    if description:
        out["description"] = description
    return out


def _t(kind: str | list[str], description: str | None = None, **more: Any) -> dict[str, Any]:
    return {"type": kind, **({"description": description} if description else {}), **more}


def _nullable_enum(values: tuple[str, ...], description: str) -> dict[str, Any]:
    return {"type": ["string", "null"], "enum": [*values, None], "description": description}


SECONDS = "seconds from the start of the call, taken from the transcript times"
ACTION_ITEM = _obj({
    "text": _t("string", "the commitment or follow-up, one short sentence"),
    "speaker": _t(["string", "null"], "label of the speaker who committed to it, as in the transcript"),
    "start_s": _t(["number", "null"], f"start of the line where it was said, {SECONDS}"),
})
PHASE = _obj({
    "name": {"type": "string", "enum": list(PHASE_NAMES)},
    "start_s": _t("number", SECONDS),
    "end_s": _t("number", SECONDS),
    "summary": _t("string", "one short sentence"),
})
DIMENSIONS = _obj({
    "intent": _t(["string", "null"], "why the customer called, a few words"),
    "resolution": _nullable_enum(("resolved", "partially_resolved", "unresolved"), "was the customer's issue solved"),
    "agent_performance": _t(["string", "null"], "one sentence on how well the agent handled the call"),
    "escalation_risk": _nullable_enum(("low", "medium", "high"), "risk the customer escalates or churns"),
    "key_topics": _t("array", "up to 5 short topics", items={"type": "string"}),
    "compliance": _t(["string", "null"], "greeting, identity check, disclosures, politeness: issues or 'ok'"),
    "satisfaction_score": _t(["integer", "null"], "customer's satisfaction, integer 1 (worst) to 10 (best)"),
})
INSIGHTS_SCHEMA: dict[str, Any] = _obj({
    "summary": _t("string", "exactly 3 sentences"),
    "action_items": _t("array", "commitments and follow-ups agreed in the call", items=ACTION_ITEM),
    "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"], "description": "the customer's"},
    "sentiment_score": _t("number", "the customer's sentiment from -1 (very negative) to 1 (very positive)"),
    "phases": _t("array", "the call's phases in time order, covering the call", items=PHASE),
    "dimensions": DIMENSIONS,
})
CHUNK_SCHEMA: dict[str, Any] = _obj({
    "summary": _t("string", "at most 3 sentences about this part"),
    "action_items": _t("array", items=ACTION_ITEM),
    "phases": _t("array", "phases within this part, in time order", items=PHASE),
})
ANSWER_SCHEMA: dict[str, Any] = _obj({
    "answer": _t("string", "a short answer based only on the transcript"),
    "segment_idxs": _t("array", "the #indices of the lines the answer relies on", items={"type": "integer"}),
})

_LINES = (
    "Each transcript line is `[start-end] speaker: text`, times in seconds from the call start. "
    "Speakers are labelled `role (key)` such as `agent (ch0)` / `customer (ch1)` when roles are known."
)
_RULES = (
    "Use only what the transcript says: never invent names, numbers or facts. "
    "Action items are commitments or follow-ups someone agreed to (who, and the time of the line). "
    "Phases: Introduction (greeting, identification), Complaint (the customer's problem or request), "
    "Resolution (working on and resolving it), Goodbye (closing), Other (anything else); "
    "give them in time order using the transcript times."
)
SYSTEM_PROMPT = (
    "You analyse customer-service phone calls from their transcripts. " + _LINES + " " + _RULES + " "
    "The summary is exactly 3 sentences. Sentiment and satisfaction are the customer's. "
    "Answer with one JSON object matching the schema."
)
CHUNK_PROMPT = (
    "You take notes on one consecutive part of a long customer-service call transcript; the notes of "
    "all parts are combined later. " + _LINES + " " + _RULES + " Answer with one JSON object matching the schema."
)
FINAL_NOTE = (
    "The transcript was too long for one request, so here are notes on its consecutive parts "
    "(time range, summary, action items). Produce the analysis of the whole call from them. "
    "The phases are taken from the parts' notes: return phases as an empty list."
)
ASK_PROMPT = (
    "You answer a question about one phone call using only its transcript. Each line is "
    "`#index [start-end] speaker: text`. Answer briefly, and list the #indices of the lines your answer "
    "relies on. If the transcript does not answer the question, say so and list no indices. "
    "Answer with one JSON object matching the schema."
)


def with_schema(system: str, schema: dict[str, Any]) -> str:
    """Prompt mode (the endpoint has no structured output): the schema goes in the prompt."""
    return (f"{system}\nReply with a single JSON object and nothing else (no prose, no code fences) that "
            f"conforms to this JSON schema:\n{json.dumps(schema, separators=(',', ':'))}")


def estimate_tokens(text: str) -> int:
    """~4 characters per token: good enough to decide when to split a call."""
    return (len(text) + 3) // 4


def call_header(call: CallText) -> str:
    duration = f"{call.duration_s:.1f} s" if call.duration_s else "unknown"
    speakers = dict.fromkeys(t.label for t in call.turns)  # first-seen order, unique
    return f"Call: {call.call_id}\nDuration: {duration}\nSpeakers: {', '.join(speakers) or 'unknown'}"


def insights_user_message(call: CallText) -> str:
    return f"{call_header(call)}\nTranscript:\n{call.render()}"


def chunk_user_message(call: CallText, turns: tuple[Turn, ...], index: int, count: int) -> str:
    return f"{call_header(call)}\nPart {index + 1} of {count}, {_span(turns)}\nTranscript:\n{call.render(turns)}"


def final_user_message(call: CallText, notes: list[tuple[tuple[Turn, ...], Any]]) -> str:
    """``notes``: (turns of the part, its parsed chunk answer with summary and action_items)."""
    lines = [call_header(call), FINAL_NOTE]
    for i, (turns, note) in enumerate(notes):
        lines.append(f"{_span(turns)} part {i + 1}: {note.summary}")
        for item in note.action_items:
            when = f"[{item.start_s:.1f}s] " if item.start_s is not None else ""
            lines.append(f"  - action {when}{item.speaker or 'unknown'}: {item.text}")
    return "\n".join(lines)


def ask_user_message(call: CallText, turns: tuple[Turn, ...], question: str) -> str:
    transcript = "\n".join(f"#{t.segment_idx} {call.render((t,))}" for t in turns)
    return f"{call_header(call)}\nTranscript:\n{transcript}\nQuestion: {question.strip()}"


def repair_message(reason: str) -> str:
    return (f"Your previous answer could not be used: {reason}. Reply again with only the corrected, complete "
            "JSON object matching the schema: no prose, no code fences. Be concise so it fits.")


def _span(turns: tuple[Turn, ...]) -> str:
    starts = [t.start_s for t in turns if t.start_s is not None]
    ends = [t.end_s for t in turns if t.end_s is not None]
    return f"[{min(starts):.1f}s-{max(ends):.1f}s]" if starts and ends else "[untimed]"


def split_turns(call: CallText, budget_tokens: int) -> list[tuple[Turn, ...]]:
    """Consecutive groups of turns whose rendered text fits the budget (a huge turn stands alone)."""
    chunks: list[tuple[Turn, ...]] = []
    current: list[Turn] = []
    used = 0
    for turn in call.turns:
        cost = estimate_tokens(call.render((turn,))) + 1  # +1: the newline
        if current and used + cost > budget_tokens:
            chunks.append(tuple(current))
            current, used = [], 0
        current.append(turn)
        used += cost
    if current:
        chunks.append(tuple(current))
    return chunks
