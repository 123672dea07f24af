"""replace_calls: the partition MERGE and its invariants."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from callmine.warehouse import TABLES, DuplicateKeyError, SchemaError, Warehouse
from callmine.warehouse.synthetic import make_day

DAY = dt.date(2024, 3, 5)


def only(tables: dict[str, pa.Table], *call_ids: str) -> dict[str, pa.Table]:
    ids = pa.array(call_ids)
    return {name: t.filter(pc.is_in(t.column("call_id"), value_set=ids)) for name, t in tables.items()}


def snapshot(wh: Warehouse, day: dt.date = DAY) -> dict[str, list[dict]]:
    return {name: wh.read_partition(name, day).to_pylist() for name in TABLES}


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(str(tmp_path / "warehouse"))


def test_first_load_writes_every_nonempty_table(wh: Warehouse):
    day = make_day(DAY, n_calls=3)
    result = wh.replace_calls(DAY, day)
    for name in ("calls", "segments", "words", "speaker_metrics", "keyword_hits"):
        assert wh.read_partition(name, DAY).num_rows == day[name].num_rows == result.partition_rows[name]
    assert result.calls == 3


def test_replacing_a_day_twice_leaves_the_same_rows(wh: Warehouse):
    day = make_day(DAY, n_calls=4, failed=1)
    wh.replace_calls(DAY, day)
    first = snapshot(wh)
    result = wh.replace_calls(DAY, day)
    assert snapshot(wh) == first
    assert result.rows_removed == result.rows_written


def test_reload_of_a_call_replaces_its_old_rows_only(wh: Warehouse):
    day = make_day(DAY, n_calls=3)
    wh.replace_calls(DAY, day)
    target = "call-20240305-00001"
    shorter = make_day(DAY, n_calls=3, segments_per_call=2, seed=7)
    wh.replace_calls(DAY, only(shorter, target))
    segments = wh.read_partition("segments", DAY)
    mine = segments.filter(pc.equal(segments.column("call_id"), target))
    assert mine.num_rows == 2
    assert segments.num_rows == 4 + 2 + 4


def test_other_calls_in_the_partition_are_kept(wh: Warehouse):
    day = make_day(DAY, n_calls=3)
    wh.replace_calls(DAY, only(day, "call-20240305-00000", "call-20240305-00001"))
    wh.replace_calls(DAY, only(day, "call-20240305-00002"))
    assert sorted(wh.read_partition("calls", DAY).column("call_id").to_pylist()) == [
        "call-20240305-00000", "call-20240305-00001", "call-20240305-00002",
    ]
    assert wh.read_partition("words", DAY).num_rows == day["words"].num_rows


def test_failed_reload_removes_old_children(wh: Warehouse):
    wh.replace_calls(DAY, make_day(DAY, n_calls=2))
    failed = make_day(DAY, n_calls=2, failed=2)  # same ids, now failed, no children
    result = wh.replace_calls(DAY, only(failed, "call-20240305-00000"))
    for name in ("segments", "words", "speaker_metrics", "keyword_hits"):
        ids = set(wh.read_partition(name, DAY).column("call_id").to_pylist())
        assert ids == {"call-20240305-00001"}, name
    assert result.rows_removed["words"] == 20
    assert result.rows_written["words"] == 0
    assert wh.completed_call_ids(DAY) == {"call-20240305-00001"}


def test_partition_that_becomes_empty_loses_its_file(wh: Warehouse):
    wh.replace_calls(DAY, make_day(DAY, n_calls=1))
    wh.replace_calls(DAY, make_day(DAY, n_calls=1, failed=1))
    assert not Path(wh.partition_file_uri("words", DAY)).exists()
    assert wh.read_partition("words", DAY).num_rows == 0
    assert wh.read_partition("calls", DAY).num_rows == 1


def test_backfilling_one_day_leaves_other_days_untouched(wh: Warehouse):
    other = dt.date(2024, 3, 6)
    wh.replace_calls(DAY, make_day(DAY, n_calls=2))
    wh.replace_calls(other, make_day(other, n_calls=2))
    before = snapshot(wh, other)
    wh.replace_calls(DAY, make_day(DAY, n_calls=2, seed=3))
    assert snapshot(wh, other) == before


def test_one_file_per_table_per_month(wh: Warehouse):
    for day in (DAY, DAY + dt.timedelta(days=1)):
        for seed in range(3):
            for i in range(3):
                wh.replace_calls(day, only(make_day(day, n_calls=3, seed=seed), f"call-{day:%Y%m%d}-{i:05d}"))
    root = Path(wh.uri)
    for name in ("calls", "segments", "words", "speaker_metrics", "keyword_hits"):
        assert sorted(p.relative_to(root / name).as_posix() for p in (root / name).rglob("*")) == [
            "call_month=0000-00", "call_month=0000-00/part-0.parquet",  # the schema file
            "call_month=2024-03", "call_month=2024-03/part-0.parquet"], name


def test_files_are_sorted_by_key_and_zstd(wh: Warehouse):
    day = make_day(DAY, n_calls=3)
    reversed_words = day["words"].take(pa.array(range(day["words"].num_rows - 1, -1, -1)))
    wh.replace_calls(DAY, {**day, "words": reversed_words})
    stored = pq.read_table(wh.partition_file_uri("words", DAY))
    assert stored.equals(stored.sort_by([("call_date", "ascending"), ("call_id", "ascending"), ("word_idx", "ascending")]))
    assert pq.ParquetFile(wh.partition_file_uri("words", DAY)).metadata.row_group(0).column(0).compression == "ZSTD"


def test_every_table_stores_call_date_in_its_month_file(wh: Warehouse):
    wh.replace_calls(DAY, make_day(DAY, n_calls=1))
    for name in ("calls", "segments", "words", "speaker_metrics", "keyword_hits"):
        path = wh.partition_file_uri(name, DAY)
        assert path.endswith(f"/{name}/call_month=2024-03/part-0.parquet")
        assert set(pq.read_table(path, columns=["call_date"]).column("call_date").to_pylist()) == {DAY}
    assert wh.read_partition("calls", DAY).column("call_date").to_pylist() == [DAY]


def test_call_date_is_filled_from_the_partition(wh: Warehouse):
    day = make_day(DAY, n_calls=1)
    wh.replace_calls(DAY, {**day, "calls": day["calls"].drop_columns(["call_date"])})
    assert wh.read_partition("calls", DAY).column("call_date").to_pylist() == [DAY]


def test_call_dated_elsewhere_is_rejected(wh: Warehouse):
    with pytest.raises(SchemaError, match="does not match the partition 2024-03-06"):
        wh.replace_calls(dt.date(2024, 3, 6), make_day(DAY, n_calls=1))


def test_datetime_is_not_a_call_date(wh: Warehouse):
    with pytest.raises(TypeError, match="datetime.date"):
        wh.replace_calls(dt.datetime(2024, 3, 5, 12), make_day(DAY, n_calls=1))


def test_duplicate_keys_are_rejected(wh: Warehouse):
    wh.replace_calls(DAY, make_day(DAY, n_calls=2))
    before = snapshot(wh)
    day = make_day(DAY, n_calls=2, seed=1)
    doubled = pa.concat_tables([day["segments"], day["segments"].slice(0, 1)])
    with pytest.raises(DuplicateKeyError, match=r"segments: 1 duplicate key\(s\) on \['call_id', 'segment_idx'\]"):
        wh.replace_calls(DAY, {**day, "segments": doubled})
    assert snapshot(wh) == before


def test_duplicate_call_ids_in_input_are_rejected(wh: Warehouse):
    day = make_day(DAY, n_calls=2)
    with pytest.raises(DuplicateKeyError, match="calls"):
        wh.replace_calls(DAY, {**day, "calls": pa.concat_tables([day["calls"], day["calls"]])})


def test_rows_for_calls_not_being_loaded_are_rejected(wh: Warehouse):
    day = make_day(DAY, n_calls=2)
    with pytest.raises(SchemaError, match=r"words: rows for call_id\(s\) \['call-20240305-00001'\] that are not in calls"):
        wh.replace_calls(DAY, {**only(day, "call-20240305-00000"), "words": day["words"]})


def test_completed_call_without_words_is_rejected(wh: Warehouse):
    day = make_day(DAY, n_calls=2)
    with pytest.raises(SchemaError, match=r"words: completed call\(s\) \['call-20240305-00000', 'call-20240305-00001'\]"):
        wh.replace_calls(DAY, {name: t for name, t in day.items() if name != "words"})


def test_completed_call_ids_reads_partition(wh: Warehouse):
    assert wh.completed_call_ids(DAY) == set()
    wh.replace_calls(DAY, make_day(DAY, n_calls=3, failed=1))
    assert wh.completed_call_ids(DAY) == {"call-20240305-00000", "call-20240305-00001"}
    assert wh.completed_call_ids(dt.date(2024, 3, 6)) == set()


def test_loading_no_calls_changes_nothing(wh: Warehouse):
    result = wh.replace_calls(DAY, {"calls": TABLES["calls"].empty_table()})
    assert result.calls == 0
    assert not Path(wh.uri).exists()


def test_insights_load_and_are_dropped_when_their_call_is_reloaded(wh: Warehouse):
    day = make_day(DAY, n_calls=1)
    insights = pa.table({"call_id": ["call-20240305-00000"], "model": ["m"], "action_items": [["a", "b"]]})
    wh.replace_calls(DAY, {**day, "call_insights": insights})
    assert wh.read_partition("call_insights", DAY).column("action_items").to_pylist() == [["a", "b"]]
    wh.replace_calls(DAY, day)  # re-transcribed: the old summary no longer applies
    assert wh.read_partition("call_insights", DAY).num_rows == 0


def test_read_partition_can_select_columns(wh: Warehouse):
    wh.replace_calls(DAY, make_day(DAY, n_calls=2))
    calls = wh.read_partition("calls", DAY, columns=["call_date", "call_id"])
    assert calls.column_names == ["call_date", "call_id"]
    assert calls.column("call_date").to_pylist() == [DAY, DAY]
    assert wh.read_partition("words", dt.date(2000, 1, 1), columns=["word"]).num_rows == 0
