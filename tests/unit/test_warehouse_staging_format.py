"""Staged batch files: Arrow IPC, schema trust, and legacy Parquet batches."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from callmine.warehouse import TABLES, SchemaError, Warehouse
from callmine.warehouse.conform import conform
from callmine.warehouse.layout import staging_dir
from callmine.warehouse.staged_batches import Attempt, commit, committed_attempt
from callmine.warehouse.staging import LEGACY_SUFFIX, STAGED_MARK
from callmine.warehouse.synthetic import make_day

DAY = dt.date(2024, 3, 5)


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(str(tmp_path / "warehouse"))


def staged_path(wh: Warehouse, table: str, batch: str, suffix: str, run_key: str = "run1") -> Path:
    return Path(wh.storage.path(staging_dir(run_key, table), batch + suffix))


def committed_path(wh: Warehouse, table: str, batch: str, run_key: str = "run1") -> str:
    """The file of ``table`` that the batch's commit marker names."""
    return committed_attempt(wh.storage, run_key, batch).files(wh.storage, run_key, batch)[table]


def commit_foreign(wh: Warehouse, table: str, content: pa.Table, batch: str = "b0") -> None:
    """A staged file ``stage`` did not write, committed as the batch's only table."""
    attempt = Attempt.new({table: content.num_rows})
    write_ipc(Path(attempt.files(wh.storage, "run1", batch)[table]), content)
    commit(wh.storage, "run1", batch, attempt)


def stage_legacy(wh: Warehouse, batch: str, tables: dict[str, pa.Table], run_key: str = "run1") -> None:
    """What the previous release's ``stage`` left: one conformed Parquet file per non-empty table."""
    for name, table in tables.items():
        if table.num_rows:
            wh.storage.write_parquet_atomic(str(staged_path(wh, name, batch, LEGACY_SUFFIX, run_key)),
                                            conform(name, table))


def write_ipc(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with ipc.new_file(str(path), table.schema) as writer:
        writer.write_table(table)


def staged_rows(wh: Warehouse) -> dict[str, int]:
    return {name: t.num_rows for name, t in wh.staged_tables("run1").items()}


def test_staged_files_are_marked_arrow_ipc_in_the_table_schema(wh: Warehouse):
    batch = make_day(DAY, n_calls=2)
    wh.stage("run1", "b0", batch)
    for name in ("calls", "segments", "words", "speaker_metrics", "keyword_hits"):
        path = committed_path(wh, name, "b0")
        with pa.memory_map(path) as source:
            table = ipc.open_file(source).read_all()
        assert table.schema.equals(TABLES[name].with_metadata(STAGED_MARK), check_metadata=True)
        assert table.num_rows == batch[name].num_rows


def test_staged_tables_come_back_in_the_table_schema_without_the_marker(wh: Warehouse):
    wh.stage("run1", "b0", make_day(DAY, n_calls=2))
    for name, table in wh.staged_tables("run1").items():
        assert table.schema.equals(TABLES[name], check_metadata=True), name


def test_a_batch_staged_as_parquet_by_the_previous_release_still_loads(wh: Warehouse):
    stage_legacy(wh, "b0", make_day(DAY, n_calls=2, prefix="old"))
    wh.stage("run1", "b1", make_day(DAY, n_calls=3, prefix="new"))
    staged = wh.staged_tables("run1")
    assert staged["calls"].column("call_id").to_pylist()[:2] == ["old-20240305-00000", "old-20240305-00001"]
    assert staged["calls"].num_rows == 5
    wh.replace_calls(DAY, staged)
    assert len(wh.completed_call_ids(DAY)) == 5


def test_staged_batch_reads_a_legacy_parquet_batch(wh: Warehouse):
    batch = make_day(DAY, n_calls=2)
    stage_legacy(wh, "b0", batch)
    staged = wh.staged_batch("run1", "b0")
    assert {name: t.num_rows for name, t in staged.items()} == {
        name: batch[name].num_rows if name in batch else 0 for name in TABLES}


def test_restaging_a_legacy_batch_replaces_its_parquet_files(wh: Warehouse):
    stage_legacy(wh, "b0", make_day(DAY, n_calls=3))
    retry = {name: t for name, t in make_day(DAY, n_calls=2).items() if name != "keyword_hits"}
    wh.stage("run1", "b0", retry)
    assert not list(Path(wh.uri).rglob(f"*{LEGACY_SUFFIX}"))
    rows = staged_rows(wh)
    assert rows["calls"] == 2 and rows["keyword_hits"] == 0


def test_restaging_a_batch_replaces_the_previous_staged_rows(wh: Warehouse):
    wh.stage("run1", "b0", make_day(DAY, n_calls=3, prefix="first"))
    wh.stage("run1", "b0", make_day(DAY, n_calls=2, prefix="retry"))
    ids = wh.staged_tables("run1")["calls"].column("call_id").to_pylist()
    assert ids == ["retry-20240305-00000", "retry-20240305-00001"]


def test_a_committed_batch_outranks_its_legacy_parquet_files(wh: Warehouse):
    # A crash between the new marker and removing the Parquet files: the marker wins.
    stage_legacy(wh, "b0", make_day(DAY, n_calls=3, prefix="old"))
    wh.stage("run1", "b0", make_day(DAY, n_calls=2, prefix="new"))
    stage_legacy(wh, "b0", make_day(DAY, n_calls=3, prefix="old"))
    assert wh.staged_tables("run1")["calls"].column("call_id").to_pylist() == [
        "new-20240305-00000", "new-20240305-00001"]
    assert wh.staged_batch("run1", "b0")["calls"].num_rows == 2


def test_a_staged_file_with_another_schema_is_conformed_not_trusted(wh: Warehouse):
    words = make_day(DAY, n_calls=1)["words"]  # int32 indexes, nullable call_id: not the exact schema
    wide = words.set_column(1, "word_idx", words.column("word_idx").cast(pa.int64()))
    commit_foreign(wh, "words", wide.replace_schema_metadata(STAGED_MARK))
    staged = wh.staged_tables("run1")["words"]
    assert staged.schema.equals(TABLES["words"], check_metadata=True)
    assert staged.column("word_idx").to_pylist() == words.column("word_idx").to_pylist()


def test_an_unmarked_staged_file_in_the_exact_schema_is_still_validated(wh: Warehouse):
    bad = pa.Table.from_pylist([{"call_id": "a", "status": "weird"}], schema=TABLES["calls"])
    commit_foreign(wh, "calls", bad)
    with pytest.raises(SchemaError, match="status"):
        wh.staged_tables("run1")


def test_a_marked_staged_file_with_an_unknown_column_is_refused(wh: Warehouse):
    calls = conform("calls", make_day(DAY, n_calls=1)["calls"])
    extra = calls.append_column("surprise", pa.array([1])).replace_schema_metadata(STAGED_MARK)
    commit_foreign(wh, "calls", extra)
    with pytest.raises(SchemaError, match="surprise"):
        wh.staged_tables("run1")


def test_an_object_store_warehouse_stages_compressed_ipc_that_loads():
    root = f"memory://callmine-staging-{uuid.uuid4().hex}"
    wh, fs = Warehouse(root), fsspec.filesystem("memory")
    try:
        batch = make_day(DAY, n_calls=20, segments_per_call=20, words_per_segment=20)
        wh.stage("run1", "b0", batch)
        path = committed_path(wh, "words", "b0")
        plain = pa.BufferOutputStream()
        with ipc.new_file(plain, TABLES["words"]) as writer:
            writer.write_table(conform("words", batch["words"]))
        assert fs.size(path) < plain.getvalue().size / 2
        assert wh.staged_tables("run1")["words"].equals(conform("words", batch["words"]))
    finally:
        if fs.exists(root):
            fs.rm(root, recursive=True)
