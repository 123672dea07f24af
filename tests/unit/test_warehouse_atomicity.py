"""Crash safety: readers only ever see complete files and a consistent state."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from callmine.warehouse import TABLES, Warehouse, connect
from callmine.warehouse.storage import Storage
from callmine.warehouse.synthetic import make_day

DAY = dt.date(2024, 3, 5)


class Crash(RuntimeError):
    pass


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    warehouse = Warehouse(str(tmp_path / "warehouse"))
    warehouse.replace_calls(DAY, make_day(DAY, n_calls=2))
    return warehouse


def view_rows(wh: Warehouse) -> dict[str, int]:
    with connect(wh.uri) as con:
        return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in TABLES}


def visible_files(wh: Warehouse) -> list[str]:
    """What the views' glob (<table>/call_month=*/*.parquet) matches."""
    return sorted(
        str(p.relative_to(wh.uri)) for name in TABLES for p in Path(wh.uri).glob(f"{name}/call_month=*/*.parquet"))


def all_files(wh: Warehouse) -> list[str]:
    return sorted(str(p.relative_to(wh.uri)) for p in Path(wh.uri).rglob("*") if p.is_file())


def crash_on_commit(monkeypatch: pytest.MonkeyPatch, number: int) -> list[str]:
    """Make the n-th rename (1-based) raise; returns the names renamed before it."""
    done: list[str] = []
    real = Storage.commit

    def commit(self: Storage, temp: str, final: str) -> None:
        if len(done) + 1 == number:
            raise Crash(f"killed before renaming {final}")
        real(self, temp, final)
        done.append(final.split("/")[-3])

    monkeypatch.setattr(Storage, "commit", commit)
    return done


def test_crash_before_rename_leaves_previous_state(wh: Warehouse, monkeypatch: pytest.MonkeyPatch):
    before_rows, before_files = view_rows(wh), all_files(wh)
    crash_on_commit(monkeypatch, 1)
    with pytest.raises(Crash):
        wh.replace_calls(DAY, make_day(DAY, n_calls=5))
    assert view_rows(wh) == before_rows
    assert all_files(wh) == before_files  # temp files were cleaned up
    assert visible_files(wh) == [f for f in before_files if not f.startswith("_locks/")]


def test_crash_while_writing_leaves_previous_state(wh: Warehouse, monkeypatch: pytest.MonkeyPatch):
    before_rows, before_files = view_rows(wh), all_files(wh)
    real = Storage.write_parquet_temp
    calls = []

    def write(self: Storage, final: str, table):
        calls.append(final)
        if len(calls) == 3:
            raise Crash("disk full")
        return real(self, final, table)

    monkeypatch.setattr(Storage, "write_parquet_temp", write)
    with pytest.raises(Crash):
        wh.replace_calls(DAY, make_day(DAY, n_calls=5))
    assert view_rows(wh) == before_rows
    assert all_files(wh) == before_files


def test_crash_before_calls_rename_never_shows_a_completed_call_without_rows(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
):
    renamed = crash_on_commit(monkeypatch, 5)  # segments, words, speaker_metrics, keyword_hits, then calls
    with pytest.raises(Crash):
        wh.replace_calls(DAY, make_day(DAY, n_calls=5))
    assert renamed == ["segments", "words", "speaker_metrics", "keyword_hits"]
    with connect(wh.uri) as con:
        orphans = con.sql("""
            SELECT c.call_id FROM calls c
            WHERE c.status = 'completed'
              AND (NOT EXISTS (SELECT 1 FROM segments s WHERE s.call_id = c.call_id)
                OR NOT EXISTS (SELECT 1 FROM words w WHERE w.call_id = c.call_id)
                OR NOT EXISTS (SELECT 1 FROM speaker_metrics m WHERE m.call_id = c.call_id))
        """).fetchall()
    assert orphans == []
    assert wh.completed_call_ids(DAY) == {"call-20240305-00000", "call-20240305-00001"}


def test_rerun_after_a_crash_converges(wh: Warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    day = make_day(DAY, n_calls=5)
    crash_on_commit(monkeypatch, 3)
    with pytest.raises(Crash):
        wh.replace_calls(DAY, day)
    monkeypatch.undo()
    wh.replace_calls(DAY, day)
    clean = Warehouse(str(tmp_path / "clean"))
    clean.replace_calls(DAY, day)
    for name in TABLES:
        assert wh.read_partition(name, DAY).equals(clean.read_partition(name, DAY)), name


def test_leftover_temp_files_are_invisible_and_cleaned_up(wh: Warehouse, monkeypatch: pytest.MonkeyPatch):
    before_rows, before_visible = view_rows(wh), visible_files(wh)
    # A killed process cannot clean up: leave its temp files on disk.
    monkeypatch.setattr(Storage, "remove", lambda self, path: False)
    crash_on_commit(monkeypatch, 1)
    with pytest.raises(Crash):
        wh.replace_calls(DAY, make_day(DAY, n_calls=5))
    leftovers = [f for f in all_files(wh) if f.endswith(".tmp")]
    assert len(leftovers) == 5
    assert visible_files(wh) == before_visible
    assert view_rows(wh) == before_rows

    monkeypatch.undo()
    wh.replace_calls(DAY, make_day(DAY, n_calls=5))
    assert [f for f in all_files(wh) if f.endswith(".tmp")] == []
