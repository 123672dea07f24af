"""The same warehouse on an fsspec URL (memory://), as used with s3:// in production."""

from __future__ import annotations

import datetime as dt
import uuid

import fsspec
import pytest

from callmine.warehouse import TABLES, Warehouse, connect
from callmine.warehouse.synthetic import make_day

DAY = dt.date(2024, 3, 5)


@pytest.fixture
def wh() -> Warehouse:
    root = f"memory://callmine-test-{uuid.uuid4().hex}"
    yield Warehouse(root)
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_memory_warehouse_stages_loads_and_reads(wh: Warehouse):
    wh.stage("run1", "b0", make_day(DAY, n_calls=2, prefix="a"))
    wh.stage("run1", "b1", make_day(DAY, n_calls=2, prefix="b", failed=1))
    wh.replace_calls(DAY, wh.staged_tables("run1"))
    wh.clear_stage("run1")
    wh.replace_calls(DAY, make_day(DAY, n_calls=2, prefix="a", seed=1))  # reload

    assert wh.uri.startswith("memory://")
    assert wh.completed_call_ids(DAY) == {"a-20240305-00000", "a-20240305-00001", "b-20240305-00000"}
    fs = fsspec.filesystem("memory")
    for name in ("calls", "segments", "words"):
        month_folder = fs._strip_protocol(wh.partition_file_uri(name, DAY)).rpartition("/")[0]
        assert fs.ls(month_folder, detail=False) == [fs._strip_protocol(wh.partition_file_uri(name, DAY))]
    assert not fs.exists(f"{wh.uri}/_staging/run1")


def test_memory_subtitle_uri_is_readable_with_fsspec(wh: Warehouse):
    uri = wh.write_subtitle(DAY, "c1", "vtt", b"WEBVTT\n")
    assert uri.startswith("memory://")
    with fsspec.open(uri, "rb") as f:
        assert f.read() == b"WEBVTT\n"


def test_duckdb_reads_a_memory_warehouse_through_fsspec(wh: Warehouse):
    wh.replace_calls(DAY, make_day(DAY, n_calls=3))
    with connect(wh.uri) as con:
        counts = {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in TABLES}
        day = con.execute("SELECT DISTINCT call_date FROM words").fetchall()
    assert counts["calls"] == 3 and counts["call_insights"] == 0
    assert day == [(DAY,)]
