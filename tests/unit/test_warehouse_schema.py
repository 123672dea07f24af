"""conform() and the schema contract."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from callmine.warehouse import TABLES, SchemaError, conform, file_schema
from callmine.warehouse.schema import SPECS


def test_tables_are_in_children_first_load_order():
    assert list(TABLES)[-1] == "calls"
    assert set(TABLES) == {"calls", "segments", "words", "speaker_metrics", "keyword_hits", "call_insights"}


def test_contract_types():
    calls = TABLES["calls"]
    assert calls.field("call_date").type == pa.date32()
    assert calls.field("ingested_at").type == pa.timestamp("us", tz="UTC")
    assert calls.field("size_bytes").type == pa.int64()
    assert calls.field("channels").type == pa.int32()
    assert TABLES["words"].field("word_idx").type == pa.int32()
    assert TABLES["speaker_metrics"].field("turns").type == pa.int32()
    assert TABLES["call_insights"].field("phases").type.value_type.field("start_s").type == pa.float64()


def test_keys_are_required_columns():
    for name, spec in SPECS.items():
        for column in spec.key:
            assert not TABLES[name].field(column).nullable, (name, column)


def test_file_schema_stores_call_date_in_every_table():
    for name in TABLES:
        assert not file_schema(name).field("call_date").nullable, name


def test_conform_reorders_columns():
    table = pa.table({"word_idx": [1], "call_id": ["a"]})
    assert conform("words", table).column_names == TABLES["words"].names


def test_conform_fills_optional_columns():
    out = conform("segments", pa.table({"call_id": ["a", "b"], "segment_idx": [0, 1]}))
    assert out.schema == TABLES["segments"]
    assert out.column("text").null_count == 2
    assert out.column("speaker_label").to_pylist() == [None, None]


def test_conform_narrows_int_widths():
    out = conform("words", pa.table({"call_id": ["a"], "word_idx": pa.array([7], pa.int64())}))
    assert out.column("word_idx").type == pa.int32()


def test_conform_accepts_large_strings_and_dictionaries():
    table = pa.table({
        "call_id": pa.array(["a"], pa.large_string()),
        "status": pa.array(["completed"]).dictionary_encode(),
    })
    assert conform("calls", table).column("status").type == pa.string()


def test_conform_casts_naive_ns_timestamps_to_utc_us():
    ts = pa.array([1_700_000_000_123_456_789], pa.timestamp("ns"))
    out = conform("calls", pa.table({"call_id": ["a"], "status": ["failed"], "ingested_at": ts}))
    assert out.column("ingested_at").type == pa.timestamp("us", tz="UTC")
    assert out.column("ingested_at")[0].as_py() == dt.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=dt.UTC)


def test_conform_rejects_missing_required_column():
    with pytest.raises(SchemaError, match=r"speaker_metrics: missing required column 'speaker'"):
        conform("speaker_metrics", pa.table({"call_id": ["a"]}))


def test_conform_rejects_uncastable_type():
    table = pa.table({"call_id": ["a"], "word_idx": [0], "start_s": ["soon"]})
    with pytest.raises(SchemaError, match=r"words: column 'start_s' of type string cannot be cast to double"):
        conform("words", table)


def test_conform_rejects_int_overflow():
    table = pa.table({"call_id": ["a"], "word_idx": pa.array([2**40], pa.int64())})
    with pytest.raises(SchemaError, match="words: column 'word_idx'"):
        conform("words", table)


def test_conform_rejects_unknown_column():
    with pytest.raises(SchemaError, match=r"segments: unexpected column\(s\) \['spekaer'\]"):
        conform("segments", pa.table({"call_id": ["a"], "segment_idx": [0], "spekaer": ["x"]}))


def test_conform_rejects_null_key():
    with pytest.raises(SchemaError, match="required column 'segment_idx' has 1 null"):
        conform("segments", pa.table({"call_id": ["a"], "segment_idx": pa.array([None], pa.int32())}))


def test_conform_rejects_values_outside_a_domain():
    with pytest.raises(SchemaError, match=r"calls: column 'status' has value\(s\) \['done'\]"):
        conform("calls", pa.table({"call_id": ["a"], "status": ["done"]}))
    with pytest.raises(SchemaError, match="role"):
        conform("speaker_metrics", pa.table({"call_id": ["a"], "speaker": ["ch0"], "role": ["boss"]}))


def test_conform_allows_null_role():
    out = conform("speaker_metrics", pa.table({"call_id": ["a"], "speaker": ["ch0"], "role": [None]}))
    assert out.column("role").to_pylist() == [None]


def test_conform_builds_nested_insight_columns():
    table = pa.table({
        "call_id": ["a"],
        "action_items": [["call back"]],
        "phases": [[{"name": "greeting", "start_s": 0, "end_s": 4.5, "summary": "hi"}]],
    })
    out = conform("call_insights", table)
    assert out.schema == TABLES["call_insights"]
    assert out.column("phases")[0].as_py()[0]["start_s"] == 0.0


def test_conform_rejects_unknown_table():
    with pytest.raises(SchemaError, match="unknown table 'transcripts'"):
        conform("transcripts", pa.table({"call_id": ["a"]}))


def test_docs_describe_every_table_and_column():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "warehouse.md").read_text()
    for name, schema in TABLES.items():
        assert f"### {name}:" in doc, name
        for column in schema.names:
            assert f"| {column} " in doc or f" {column}," in doc or f", {column} " in doc, (name, column)
