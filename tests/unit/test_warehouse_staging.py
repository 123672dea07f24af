"""Staging area and subtitle files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from callmine.warehouse import TABLES, SchemaError, Warehouse
from callmine.warehouse.synthetic import make_day

DAY = dt.date(2024, 3, 5)


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(str(tmp_path / "warehouse"))


def staged_files(wh: Warehouse) -> list[str]:
    return sorted(str(p.relative_to(wh.uri)) for p in Path(wh.uri).rglob("*") if p.is_file())


def test_stage_is_idempotent_per_batch(wh: Warehouse):
    batch = make_day(DAY, n_calls=2)
    wh.stage("run1", "b0", batch)
    wh.stage("run1", "b0", batch)  # retried task
    staged = wh.staged_tables("run1")
    for name in ("calls", "segments", "words"):
        assert staged[name].num_rows == batch[name].num_rows
    files = staged_files(wh)  # one attempt's files and its commit marker, no temp file left behind
    assert [f for f in files if f.endswith(".json")] == ["_staging/run1/_batches/b0.json"]
    assert all(f.endswith(".arrow") for f in files if not f.endswith(".json"))
    assert len({f.rsplit(".", 2)[-2] for f in files if f.endswith(".arrow")}) == 1


def test_restaging_a_batch_replaces_all_its_tables(wh: Warehouse):
    batch = make_day(DAY, n_calls=2)
    wh.stage("run1", "b0", batch)
    retry = {name: t for name, t in batch.items() if name != "keyword_hits"}
    wh.stage("run1", "b0", retry)
    assert wh.staged_tables("run1")["keyword_hits"].num_rows == 0


def test_staged_tables_concatenates_batches_conformed(wh: Warehouse):
    first = make_day(DAY, n_calls=2, prefix="a")
    second = make_day(DAY, n_calls=3, prefix="b")
    wh.stage("run1", "b0", first)
    wh.stage("run1", "b1", second)
    staged = wh.staged_tables("run1")
    assert set(staged) == set(TABLES)
    assert staged["calls"].num_rows == 5
    assert staged["words"].schema == TABLES["words"]
    wh.replace_calls(DAY, staged)
    assert len(wh.completed_call_ids(DAY)) == 5


def test_staged_tables_are_empty_when_nothing_was_staged(wh: Warehouse):
    staged = wh.staged_tables("never")
    assert {name: t.num_rows for name, t in staged.items()} == {name: 0 for name in TABLES}


def test_clear_stage_removes_only_that_run(wh: Warehouse):
    wh.stage("run1", "b0", make_day(DAY, n_calls=1))
    wh.stage("run2", "b0", make_day(DAY, n_calls=1))
    wh.clear_stage("run1")
    wh.clear_stage("run1")  # idempotent
    assert wh.staged_tables("run1")["calls"].num_rows == 0
    assert wh.staged_tables("run2")["calls"].num_rows == 1


def test_a_bad_batch_is_rejected_before_anything_is_written(wh: Warehouse):
    bad = {"calls": pa.table({"call_id": ["a"], "status": ["weird"]})}
    with pytest.raises(SchemaError, match="status"):
        wh.stage("run1", "b0", bad)
    assert not Path(wh.uri).exists()


@pytest.mark.parametrize("run_key,batch", [("../x", "b0"), ("run1", "a/b"), ("", "b0"), ("run1", "..")])
def test_stage_rejects_unsafe_names(wh: Warehouse, run_key: str, batch: str):
    with pytest.raises(ValueError, match="unsafe"):
        wh.stage(run_key, batch, {})


def test_write_subtitle_stores_atomically_and_returns_its_uri(wh: Warehouse):
    uri = wh.write_subtitle(DAY, "call-1", "srt", b"1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    assert uri == f"{wh.uri}/subtitles/call_date=2024-03-05/call-1.srt"
    wh.write_subtitle(DAY, "call-1", "srt", b"new")
    assert Path(uri).read_bytes() == b"new"
    assert [p.name for p in Path(uri).parent.iterdir()] == ["call-1.srt"]


def test_write_subtitle_rejects_other_formats(wh: Warehouse):
    with pytest.raises(ValueError, match="srt"):
        wh.write_subtitle(DAY, "call-1", "txt", b"")
