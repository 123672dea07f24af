"""The monthly layout: a day's load merges into its month's file without touching other days."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from callmine.warehouse import TABLES, SchemaError, Warehouse, connect
from callmine.warehouse import schema as warehouse_schema
from callmine.warehouse.evolution import ensure_schema, recorded_schema
from callmine.warehouse.synthetic import make_day

MARCH = [dt.date(2024, 3, d) for d in (1, 2, 3)]


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(str(tmp_path / "warehouse"))


def view(wh: Warehouse, sql: str) -> list[tuple]:
    with connect(wh.uri) as con:
        return con.execute(sql).fetchall()


def test_loading_a_day_keeps_the_other_days_of_its_month(wh: Warehouse):
    for day in MARCH:
        wh.replace_calls(day, make_day(day, n_calls=3))
    wh.replace_calls(MARCH[1], make_day(MARCH[1], n_calls=2, seed=7))  # reload the middle day
    assert view(wh, "SELECT call_date, count(*) FROM calls GROUP BY 1 ORDER BY 1") == [
        (MARCH[0], 3), (MARCH[1], 3), (MARCH[2], 3)]


def test_month_file_is_sorted_by_call_date_then_key_whatever_the_load_order(wh: Warehouse):
    for day in reversed(MARCH):
        wh.replace_calls(day, make_day(day, n_calls=3))
    words = pq.read_table(wh.partition_file_uri("words", MARCH[0]))
    assert words.equals(words.sort_by([("call_date", "ascending"), ("call_id", "ascending"), ("word_idx", "ascending")]))


def test_reloading_a_day_gives_identical_rows_in_every_table(wh: Warehouse):
    for day in MARCH:
        wh.replace_calls(day, make_day(day, n_calls=3, failed=1))
    before = {name: pq.read_table(wh.partition_file_uri(name, MARCH[0])) for name in TABLES if name != "call_insights"}
    wh.replace_calls(MARCH[1], make_day(MARCH[1], n_calls=3, failed=1))
    for name, table in before.items():
        assert pq.read_table(wh.partition_file_uri(name, MARCH[0])).equals(table), name


def test_days_of_different_months_live_in_different_files(wh: Warehouse):
    jan, feb = dt.date(2024, 1, 31), dt.date(2024, 2, 1)
    wh.replace_calls(jan, make_day(jan, n_calls=1))
    wh.replace_calls(feb, make_day(feb, n_calls=1))
    assert wh.partition_file_uri("calls", jan) != wh.partition_file_uri("calls", feb)
    assert pq.read_table(wh.partition_file_uri("calls", jan)).column("call_date").to_pylist() == [jan]


def test_read_partition_returns_only_that_day(wh: Warehouse):
    for day in MARCH:
        wh.replace_calls(day, make_day(day, n_calls=2))
    assert set(wh.read_partition("words", MARCH[2]).column("call_id").to_pylist()) == {
        "call-20240303-00000", "call-20240303-00001"}


def _load_days(root: str, days: list[dt.date], rounds: int) -> None:
    warehouse = Warehouse(root)
    for n in range(rounds):
        for day in days:
            warehouse.replace_calls(day, make_day(day, n_calls=4, seed=n))


def test_concurrent_loads_into_one_month_lose_no_day(tmp_path: Path):
    root = str(tmp_path / "warehouse")
    context = multiprocessing.get_context("spawn")  # fresh interpreters, like two Airflow tasks
    workers = [context.Process(target=_load_days, args=(root, days, 4)) for days in (MARCH[:2], MARCH[2:])]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    assert view(Warehouse(root), "SELECT call_date, count(*) FROM calls GROUP BY 1 ORDER BY 1") == [
        (day, 4) for day in MARCH]


def add_emotion_column(monkeypatch) -> None:
    """What a release adding segments.emotion does to schema.py."""
    extended = warehouse_schema.SEGMENTS.append(pa.field("emotion", pa.string()))
    monkeypatch.setitem(warehouse_schema.TABLES, "segments", extended)


def test_added_column_reads_as_null_for_old_rows_and_filled_for_new_ones(wh: Warehouse, monkeypatch):
    feb, mar = dt.date(2024, 2, 10), MARCH[0]
    wh.replace_calls(feb, make_day(feb, n_calls=2))
    wh.replace_calls(mar, make_day(mar, n_calls=2))
    add_emotion_column(monkeypatch)
    day = make_day(MARCH[1], n_calls=2)
    day["segments"] = day["segments"].append_column("emotion", pa.array(["calm"] * day["segments"].num_rows))
    Warehouse(wh.uri).replace_calls(MARCH[1], day)

    rows = view(wh, "SELECT call_date, count(*), count(emotion), min(emotion) FROM segments GROUP BY 1 ORDER BY 1")
    assert rows == [(feb, 8, 0, None), (mar, 8, 0, None), (MARCH[1], 8, 8, "calm")]


def test_schema_upgrade_rewrites_old_months_then_records_the_new_schema(wh: Warehouse, monkeypatch):
    feb = dt.date(2024, 2, 10)
    wh.replace_calls(feb, make_day(feb, n_calls=2))
    add_emotion_column(monkeypatch)
    assert ensure_schema(wh.storage) == ["segments"]
    assert "emotion" in pq.read_schema(wh.partition_file_uri("segments", feb)).names
    assert recorded_schema(wh.storage, "segments").names[-2:] == ["emotion", "call_date"]


def test_views_keep_the_recorded_schema_while_an_upgrade_is_half_done(wh: Warehouse, monkeypatch):
    feb = dt.date(2024, 2, 10)
    wh.replace_calls(feb, make_day(feb, n_calls=2))
    wh.replace_calls(MARCH[0], make_day(MARCH[0], n_calls=2))
    add_emotion_column(monkeypatch)
    # Crash after rewriting one month, before the schema file: March has the column, February not.
    march_rows = wh._read_month("segments", MARCH[0])
    wh.storage.write_parquet_atomic(wh.storage.path("segments/call_month=2024-03/part-0.parquet"), march_rows)
    assert view(wh, "SELECT count(*) FROM segments") == [(16,)]
    assert "emotion" not in [c for (c,) in view(wh, "SELECT column_name FROM (DESCRIBE segments)")]


def test_a_column_this_release_does_not_know_is_never_dropped(wh: Warehouse, monkeypatch):
    add_emotion_column(monkeypatch)
    wh.replace_calls(MARCH[0], make_day(MARCH[0], n_calls=1))  # written by the "newer" release
    monkeypatch.undo()
    with pytest.raises(SchemaError, match="emotion"):
        Warehouse(wh.uri).replace_calls(MARCH[1], make_day(MARCH[1], n_calls=1))


def test_views_of_a_warehouse_before_its_first_load_are_typed_and_empty(tmp_path: Path):
    (tmp_path / "w").mkdir()
    with connect(str(tmp_path / "w")) as con:
        assert con.execute("SELECT count(*), count(talk_ratio) FROM speaker_metrics").fetchall() == [(0, 0)]
