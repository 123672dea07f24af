"""`callmine migrate`: a daily-layout warehouse rewritten into monthly files, in place."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from callmine.cli import main
from callmine.warehouse import TABLES, SPECS, Warehouse, connect
from callmine.warehouse.migrate import migrate_layout
from callmine.warehouse.storage import Storage
from callmine.warehouse.store import LegacyLayoutError
from callmine.warehouse.synthetic import make_day

DAYS = [dt.date(2024, 1, 30), dt.date(2024, 1, 31), dt.date(2024, 2, 1)]


def write_daily_layout(root: Path, days: list[dt.date]) -> dict[str, int]:
    """What callmine wrote before the monthly layout: one file per table per day, no call_date column."""
    rows = dict.fromkeys(TABLES, 0)
    for n, day in enumerate(days):
        for name, table in make_day(day, n_calls=3, failed=1, seed=n).items():
            if "call_date" in table.column_names:
                table = table.drop_columns(["call_date"])
            folder = root / name / f"call_date={day.isoformat()}"
            folder.mkdir(parents=True)
            pq.write_table(table.sort_by([(c, "ascending") for c in SPECS[name].key]), folder / "part-0.parquet")
            rows[name] += table.num_rows
    return rows


def counts(root: Path) -> dict[str, int]:
    with connect(str(root)) as con:
        return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in TABLES}


def test_migration_moves_every_row_into_month_files(tmp_path: Path):
    expected = write_daily_layout(tmp_path, DAYS)
    report = migrate_layout(Storage(str(tmp_path)), say=lambda _: None)
    assert report.months == ["2024-01", "2024-02"]
    assert counts(tmp_path) == expected
    assert not list(tmp_path.glob("*/call_date=*"))


def test_migrated_rows_keep_their_call_date(tmp_path: Path):
    write_daily_layout(tmp_path, DAYS)
    migrate_layout(Storage(str(tmp_path)), say=lambda _: None)
    with connect(str(tmp_path)) as con:
        assert con.execute("SELECT call_date, count(*) FROM words GROUP BY 1 ORDER BY 1").fetchall() == [
            (day, 2 * 4 * 5) for day in DAYS]  # 2 completed calls x 4 segments x 5 words


def test_rerunning_the_migration_changes_nothing(tmp_path: Path):
    write_daily_layout(tmp_path, DAYS)
    migrate_layout(Storage(str(tmp_path)), say=lambda _: None)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")}
    report = migrate_layout(Storage(str(tmp_path)), say=lambda _: None)
    assert report.months == []
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")} == before


def test_a_migration_killed_midway_completes_on_rerun_without_duplicates(tmp_path: Path, monkeypatch):
    expected = write_daily_layout(tmp_path, DAYS)
    real_commit = Storage.commit
    renamed: list[str] = []

    def dies_on_third_rename(self: Storage, temp: str, final: str) -> None:
        if len(renamed) == 2:
            raise KeyboardInterrupt("killed")
        real_commit(self, temp, final)
        renamed.append(final)

    monkeypatch.setattr(Storage, "commit", dies_on_third_rename)
    with pytest.raises(KeyboardInterrupt):
        migrate_layout(Storage(str(tmp_path)), say=lambda _: None)
    monkeypatch.setattr(Storage, "commit", real_commit)
    migrate_layout(Storage(str(tmp_path)), say=lambda _: None)
    assert counts(tmp_path) == expected
    assert not list(tmp_path.rglob("*.tmp"))


def test_loads_refuse_a_warehouse_still_in_the_daily_layout(tmp_path: Path):
    write_daily_layout(tmp_path, DAYS[:1])
    with pytest.raises(LegacyLayoutError, match="callmine migrate"):
        Warehouse(str(tmp_path)).replace_calls(DAYS[2], make_day(DAYS[2], n_calls=1))


def test_loads_work_after_migration(tmp_path: Path):
    write_daily_layout(tmp_path, DAYS)
    migrate_layout(Storage(str(tmp_path)), say=lambda _: None)
    Warehouse(str(tmp_path)).replace_calls(DAYS[2], make_day(DAYS[2], n_calls=5, seed=9))
    assert counts(tmp_path)["calls"] == 3 + 3 + 5


def test_cli_dry_run_lists_months_and_changes_nothing(tmp_path: Path, capsys):
    write_daily_layout(tmp_path, DAYS)
    before = sorted(tmp_path.rglob("*"))
    assert main(["migrate", "--warehouse", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2024-01: would merge 10 daily folder(s)" in out and "2024-02: would merge 5" in out
    assert sorted(tmp_path.rglob("*")) == before


def test_cli_migrate_rebuilds_the_catalog(tmp_path: Path, capsys):
    write_daily_layout(tmp_path, DAYS)
    assert main(["migrate", "--warehouse", str(tmp_path)]) == 0
    assert "migrated 15 daily folder(s) into 2 month(s)" in capsys.readouterr().out
    assert (tmp_path / "callmine.duckdb").exists()
