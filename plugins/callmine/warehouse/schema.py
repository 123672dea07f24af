"""The warehouse schema: one Arrow schema per table, plus keys and value domains.

This module is the single source of truth. Views (views.py), ``include/sql/views.sql``
and ``docs/warehouse.md`` are derived from or checked against it.

Logical vs stored schema: ``TABLES`` holds what producers hand in (``calls`` and
``call_insights`` carry ``call_date``; child tables get it from the load).
``file_schema`` is what the Parquet files hold: every table stores ``call_date``
(files are monthly and sorted by it, so row-group statistics prune by date). Adding a
column is safe: the warehouse upgrades its files on the next load (``evolution.py``).

Non-nullable fields are the REQUIRED input columns: a table missing one of them, or
holding a null in one, is rejected by ``conform``. Every other column may be omitted
and is filled with nulls.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

PARTITION_COLUMN = "call_date"

TIMESTAMP = pa.timestamp("us", tz="UTC")


def _req(name: str, type_: pa.DataType) -> pa.Field:
    return pa.field(name, type_, nullable=False)


def _opt(name: str, type_: pa.DataType) -> pa.Field:
    return pa.field(name, type_, nullable=True)


STR, I32, I64, F64 = pa.string(), pa.int32(), pa.int64(), pa.float64()

SEGMENTS = pa.schema([
    _req("call_id", STR),
    _req("segment_idx", I32),
    _opt("speaker", STR),
    _opt("channel", I32),  # null for mono recordings
    _opt("start_s", F64),
    _opt("end_s", F64),
    _opt("text", STR),
    _opt("speaker_label", STR),  # the provider's own label, e.g. "A"
    _opt("sentiment", STR),  # VADER per segment: positive / neutral / negative
    _opt("sentiment_score", F64),  # VADER compound, -1..1
])

WORDS = pa.schema([
    _req("call_id", STR),
    _req("word_idx", I32),
    _opt("segment_idx", I32),
    _opt("speaker", STR),
    _opt("start_s", F64),
    _opt("end_s", F64),
    _opt("word", STR),
    _opt("confidence", F64),
])

SPEAKER_METRICS = pa.schema([
    _req("call_id", STR),
    _req("speaker", STR),
    _opt("role", STR),
    _opt("talk_s", F64),
    _opt("talk_ratio", F64),
    _opt("word_count", I32),
    _opt("words_per_minute", F64),
    _opt("turns", I32),
    _opt("longest_monologue_s", F64),
    _opt("questions", I32),
    _opt("interruptions", I32),
    _opt("patience_s", F64),
])

KEYWORD_HITS = pa.schema([
    _req("call_id", STR),
    _req("tracker", STR),
    _req("term", STR),
    _opt("speaker", STR),
    _req("start_s", F64),
    _opt("segment_idx", I32),
    _opt("word_idx", I32),
])

PHASE = pa.struct([
    pa.field("name", STR),
    pa.field("start_s", F64),
    pa.field("end_s", F64),
    pa.field("summary", STR),
])

ACTION_ITEM = pa.struct([
    pa.field("text", STR),
    pa.field("speaker", STR),
    pa.field("start_s", F64),
])

CALL_INSIGHTS = pa.schema([
    _req("call_id", STR),
    # Nullable on input only, like calls.call_date: the partition it is loaded into.
    _opt(PARTITION_COLUMN, pa.date32()),
    _opt("model", STR),
    _opt("summary", STR),
    _opt("action_items", pa.list_(STR)),
    _opt("sentiment", STR),  # the customer's: positive / neutral / negative
    _opt("phases", pa.list_(PHASE)),
    _opt("generated_at", TIMESTAMP),
    _opt("analyzer", STR),  # lexical / llm / callmissed
    _opt("prompt_version", STR),
    _opt("transcript_hash", STR),  # the transcript the insights were made from
    _opt("sentiment_score", F64),  # -1..1
    _opt("intent", STR),
    _opt("resolution", STR),  # resolved / partially_resolved / unresolved
    _opt("agent_performance", STR),
    _opt("escalation_risk", STR),  # low / medium / high
    _opt("key_topics", pa.list_(STR)),
    _opt("compliance", STR),
    _opt("satisfaction_score", I32),  # 1..10
    _opt("action_item_details", pa.list_(ACTION_ITEM)),  # action_items with speaker and time
    _opt("error", STR),  # why the analysis failed (then no other field is filled)
    _opt("input_tokens", I64),
    _opt("output_tokens", I64),
])

CALLS = pa.schema([
    _req("call_id", STR),
    _opt("source_uri", STR),
    # Nullable on input only: replace_calls fills it from the partition it loads.
    _opt(PARTITION_COLUMN, pa.date32()),
    _opt("duration_s", F64),
    _opt("channels", I32),
    _opt("provider", STR),
    _opt("provider_job_id", STR),
    _opt("diarization", STR),
    _req("status", STR),
    _opt("error", STR),
    # A failed call a later run should try again (outage, timeout, 5xx, auth); null when completed.
    _opt("retryable", pa.bool_()),
    _opt("speakers", I32),
    _opt("audio_seconds_billed", F64),
    _opt("ingested_at", TIMESTAMP),
    _opt("run_id", STR),
    _opt("format", STR),
    _opt("size_bytes", I64),
    _opt("srt_uri", STR),
    _opt("vtt_uri", STR),
])

# Load order, children first: replace_calls renames files in this order so `calls`
# (which is what marks a call as completed) becomes visible last.
TABLES: dict[str, pa.Schema] = {
    "segments": SEGMENTS,
    "words": WORDS,
    "speaker_metrics": SPEAKER_METRICS,
    "keyword_hits": KEYWORD_HITS,
    "call_insights": CALL_INSIGHTS,
    "calls": CALLS,
}


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    schema: pa.Schema
    key: tuple[str, ...]  # unique per call_date; files are sorted by (call_date, *key)
    grain: str


SPECS: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("segments", SEGMENTS, ("call_id", "segment_idx"), "one row per diarized segment"),
        TableSpec("words", WORDS, ("call_id", "word_idx"), "one row per word"),
        TableSpec("speaker_metrics", SPEAKER_METRICS, ("call_id", "speaker"), "one row per call and speaker"),
        # One occurrence = one term of one tracker at one instant.
        TableSpec("keyword_hits", KEYWORD_HITS, ("call_id", "start_s", "tracker", "term"),
                  "one row per tracked-term occurrence"),
        TableSpec("call_insights", CALL_INSIGHTS, ("call_id",), "one row per analyzed call"),
        TableSpec("calls", CALLS, ("call_id",), "one row per recording, latest state"),
    )
}
assert list(SPECS) == list(TABLES)

STATUS_COMPLETED, STATUS_FAILED = "completed", "failed"

# Closed value sets, checked by conform (nulls are allowed where the column is nullable).
DOMAINS: dict[tuple[str, str], frozenset[str]] = {
    ("calls", "status"): frozenset({STATUS_COMPLETED, STATUS_FAILED}),
    ("calls", "diarization"): frozenset({"channel", "model", "none"}),
    ("speaker_metrics", "role"): frozenset({"agent", "customer"}),
    ("segments", "sentiment"): frozenset({"positive", "neutral", "negative"}),
    ("call_insights", "sentiment"): frozenset({"positive", "neutral", "negative"}),
    ("call_insights", "escalation_risk"): frozenset({"low", "medium", "high"}),
    ("call_insights", "resolution"): frozenset({"resolved", "partially_resolved", "unresolved"}),
}

# A completed call must come with rows in each of these tables.
REQUIRED_CHILDREN: tuple[str, ...] = ("segments", "words", "speaker_metrics")


def file_schema(table: str) -> pa.Schema:
    """Schema of the Parquet files: every logical column plus ``call_date`` (never null)."""
    logical = TABLES[table]
    fields = list(logical)
    if logical.get_field_index(PARTITION_COLUMN) < 0:
        fields.append(pa.field(PARTITION_COLUMN, pa.date32()))
    return pa.schema([field.with_nullable(field.nullable and field.name != PARTITION_COLUMN) for field in fields])
