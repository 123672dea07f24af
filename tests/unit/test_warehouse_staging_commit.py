"""Staged batches are committed per batch by a marker: a killed stage never leaves a mix of attempts."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pyarrow as pa
import pytest

from callmine.warehouse import TABLES, Warehouse
from callmine.warehouse.staged_batches import committed_attempt, marker_path
from callmine.warehouse.storage import Storage
from callmine.warehouse.synthetic import make_day
from callmine import object_store
from tests.s3_server import create_bucket, s3_env, start_s3
from tests.unit.test_warehouse_staging_format import stage_legacy

DAY = dt.date(2024, 3, 5)


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(str(tmp_path / "warehouse"))


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory):
    """A moto S3 server for this module (as in test_s3_warehouse.py)."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # fsspec reuses filesystems: none may point at another server
    server = start_s3(tmp_path_factory.mktemp("moto"))
    yield server.base_url
    server.stop()
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    create_bucket(endpoint, "staging-commit")
    for key, value in s3_env(endpoint).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    object_store._options_cache.clear()
    return "staging-commit"


def batch(prefix: str, n_calls: int = 2) -> dict[str, pa.Table]:
    return make_day(DAY, n_calls=n_calls, prefix=prefix)


def call_ids(staged: dict[str, pa.Table], table: str = "calls") -> set[str]:
    return set(staged[table].column("call_id").to_pylist())


def files(wh: Warehouse) -> set[str]:
    return {str(p.relative_to(wh.uri)) for p in Path(wh.uri).rglob("*") if p.is_file()}


def killed_after_writing(monkeypatch: pytest.MonkeyPatch, n_files: int) -> None:
    """The worker dies while writing its (n_files + 1)-th table file."""
    write = Storage.write_ipc
    written = []

    def write_then_die(self, path, table, compression=None):
        if len(written) == n_files:
            raise KeyboardInterrupt("worker killed")
        written.append(path)
        write(self, path, table, compression)
    monkeypatch.setattr(Storage, "write_ipc", write_then_die)


def test_a_retry_killed_after_some_files_leaves_the_previous_attempt_readable(wh, monkeypatch):
    wh.stage("run1", "b0", batch("first"))
    killed_after_writing(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        wh.stage("run1", "b0", batch("retry", n_calls=3))
    staged = wh.staged_tables("run1")
    for table in ("calls", "segments", "words"):
        assert call_ids(staged, table) == {"first-20240305-00000", "first-20240305-00001"}, table


def test_a_first_attempt_killed_before_its_marker_stages_nothing(wh, monkeypatch):
    killed_after_writing(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        wh.stage("run1", "b0", batch("first"))
    assert any(f.endswith(".arrow") for f in files(wh))
    assert {name: t.num_rows for name, t in wh.staged_tables("run1").items()} == {name: 0 for name in TABLES}
    assert all(t.num_rows == 0 for t in wh.staged_batch("run1", "b0").values())


def test_a_legacy_batch_still_loads_after_a_retry_killed_before_its_marker(wh, monkeypatch):
    stage_legacy(wh, "b0", batch("old", n_calls=3))
    killed_after_writing(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        wh.stage("run1", "b0", batch("new"))
    staged = wh.staged_tables("run1")
    assert staged["calls"].num_rows == 3 and call_ids(staged) == call_ids(batch("old", n_calls=3))
    wh.replace_calls(DAY, staged)
    assert len(wh.completed_call_ids(DAY)) == 3


def test_a_retry_killed_after_its_marker_is_the_batch(wh, monkeypatch):
    wh.stage("run1", "b0", batch("first"))

    def killed(self, path):
        raise KeyboardInterrupt("worker killed")
    monkeypatch.setattr(Storage, "remove", killed)
    with pytest.raises(KeyboardInterrupt):
        wh.stage("run1", "b0", batch("retry", n_calls=3))
    monkeypatch.undo()
    assert call_ids(wh.staged_tables("run1")) == call_ids(batch("retry", n_calls=3))


def test_a_committed_retry_replaces_the_previous_attempt_and_removes_its_files(wh):
    wh.stage("run1", "b0", batch("first"))
    first = files(wh)
    wh.stage("run1", "b0", batch("retry", n_calls=3))
    assert call_ids(wh.staged_tables("run1")) == call_ids(batch("retry", n_calls=3))
    assert first & files(wh) == {"_staging/run1/_batches/b0.json"}


def test_a_table_the_retry_no_longer_produces_is_empty_and_its_file_gone(wh):
    wh.stage("run1", "b0", batch("first"))
    wh.stage("run1", "b0", {name: t for name, t in batch("retry").items() if name != "words"})
    assert wh.staged_tables("run1")["words"].num_rows == 0
    assert wh.staged_batch("run1", "b0")["words"].num_rows == 0
    assert not list(Path(wh.uri, "_staging/run1/words").iterdir())


def test_staged_batch_reads_the_attempt_its_marker_names(wh, monkeypatch):
    wh.stage("run1", "b0", batch("first"))
    wh.stage("run1", "b1", batch("other"))
    killed_after_writing(monkeypatch, 4)
    with pytest.raises(KeyboardInterrupt):
        wh.stage("run1", "b0", batch("uncommitted"))
    staged = wh.staged_batch("run1", "b0")
    for table in ("calls", "segments", "words"):
        assert call_ids(staged, table) == call_ids(batch("first")), table


def test_a_first_stage_deletes_nothing(wh, monkeypatch):
    removed = []
    monkeypatch.setattr(Storage, "remove", lambda self, path: removed.append(path))
    wh.stage("run1", "b0", batch("first"))
    assert removed == []


def test_a_failed_removal_of_the_replaced_files_does_not_fail_the_stage(wh, monkeypatch, caplog):
    wh.stage("run1", "b0", batch("first"))

    def fails(self, path):
        raise PermissionError(path)
    monkeypatch.setattr(Storage, "remove", fails)
    with caplog.at_level(logging.WARNING):
        wh.stage("run1", "b0", batch("retry"))
    assert "could not remove" in caplog.text
    assert call_ids(wh.staged_tables("run1")) == call_ids(batch("retry"))


def test_batches_come_back_in_the_order_of_their_legacy_file_names(wh):
    for name in ("b1", "b0-x", "b0"):
        wh.stage("run1", name, batch(name, n_calls=1))
    # "b0-x.parquet" < "b0.parquet": the order the previous release read them in
    assert wh.staged_tables("run1")["calls"].column("call_id").to_pylist() == [
        "b0-x-20240305-00000", "b0-20240305-00000", "b1-20240305-00000"]


def test_a_marker_of_an_unknown_format_is_refused(wh):
    wh.stage("run1", "b0", batch("first"))
    wh.storage.write_bytes_atomic(marker_path(wh.storage, "run1", "b0"),
                                  b'{"format": "arrow-ipc-v9", "token": "0123456789abcdef", "tables": {}}')
    with pytest.raises(ValueError, match="arrow-ipc-v9"):
        wh.staged_tables("run1")


def test_clear_stage_removes_the_markers_too(wh):
    wh.stage("run1", "b0", batch("first"))
    wh.clear_stage("run1")
    assert not Path(wh.uri, "_staging/run1").exists()


def test_a_restaged_batch_on_s3_reads_back_from_its_last_attempt_only(bucket: str):
    uri = f"s3://{bucket}/warehouse"
    Warehouse(uri).stage("run1", "b0", batch("first"))
    Warehouse(uri).stage("run1", "b0", {name: t for name, t in batch("retry", 3).items() if name != "words"})
    Warehouse(uri).stage("run1", "b1", batch("other"))
    wh = Warehouse(uri)
    staged = wh.staged_tables("run1")
    assert staged["calls"].column("call_id").to_pylist() == [
        *sorted(call_ids(batch("retry", 3))), *sorted(call_ids(batch("other")))]
    assert call_ids(staged, "words") == call_ids(batch("other"))
    assert call_ids(wh.staged_batch("run1", "b0")) == call_ids(batch("retry", 3))
    listed = wh.storage.list_tree(wh.storage.path("_staging/run1"))
    live = committed_attempt(wh.storage, "run1", "b0").files(wh.storage, "run1", "b0")
    assert {p for p in listed if "/b0." in p and p.endswith(".arrow")} == set(live.values())
    wh.clear_stage("run1")
    assert wh.storage.list_tree(wh.storage.path("_staging/run1")) == []
