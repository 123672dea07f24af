"""DuckDB views, the .duckdb catalog file, views.sql and the example queries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from callmine.cli import main
from callmine.warehouse import TABLES, Warehouse, build_catalog, connect, views_sql
from callmine.warehouse.views import PLACEHOLDER, duckdb_type, fill_placeholder, view_columns

REPO = Path(__file__).resolve().parents[2]
SQL_DIR = REPO / "include" / "sql"
DAY = dt.date(2024, 3, 5)


@pytest.fixture
def loaded(tmp_path: Path) -> Warehouse:
    from callmine.warehouse.synthetic import make_day

    wh = Warehouse(str(tmp_path / "warehouse"))
    for offset in range(3):
        day = DAY + dt.timedelta(days=offset)
        wh.replace_calls(day, make_day(day, n_calls=4, failed=1, seed=offset))
    return wh


def describe(con: duckdb.DuckDBPyConnection, view: str) -> list[tuple[str, str]]:
    # DuckDB quotes some struct field names in DESCRIBE ("name"); compare unquoted.
    return [(row[0], row[1].replace('"', "")) for row in con.execute(f"DESCRIBE {view}").fetchall()]


def expected_columns(table: str) -> list[tuple[str, str]]:
    return [(f.name, duckdb_type(f.type)) for f in view_columns(table)]


def test_views_work_before_any_load(tmp_path: Path):
    with connect(str(tmp_path / "nothing-yet")) as con:
        for table in TABLES:
            assert con.execute(f"SELECT * FROM {table}").fetchall() == []
            assert describe(con, table) == expected_columns(table), table


def test_loaded_views_keep_the_schema_types(loaded: Warehouse):
    with connect(loaded.uri) as con:
        for table in TABLES:
            assert describe(con, table) == expected_columns(table), table


def test_call_date_is_a_date_in_duckdb(loaded: Warehouse):
    with connect(loaded.uri) as con:
        columns = describe(con, "calls")
        assert [c for c in columns if c[0] == "call_date"] == [("call_date", "DATE")]
        assert con.execute("SELECT * FROM calls LIMIT 0").description is not None
        assert [d[0] for d in con.execute("SELECT * FROM calls LIMIT 0").description].count("call_date") == 1
        days = con.execute("SELECT call_date, count(*) FROM words GROUP BY ALL ORDER BY 1").fetchall()
    assert [d for d, _ in days] == [DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)]


def test_nested_insight_columns_read_back(tmp_path: Path):
    from callmine.warehouse.synthetic import make_day

    wh = Warehouse(str(tmp_path / "wh"))
    phases = [[{"name": "greeting", "start_s": 0.0, "end_s": 5.0, "summary": "hello"}]]
    insights = pa.table({"call_id": ["call-20240305-00000"], "action_items": [["refund"]], "phases": phases,
                         "generated_at": pa.array([dt.datetime(2024, 3, 5, tzinfo=dt.UTC)])})
    wh.replace_calls(DAY, {**make_day(DAY, n_calls=1), "call_insights": insights})
    with connect(wh.uri) as con:
        row = con.execute("SELECT action_items[1], phases[1].end_s, call_date FROM call_insights").fetchone()
    assert row == ("refund", 5.0, DAY)


def test_build_catalog_writes_views_usable_from_any_cwd(loaded: Warehouse, monkeypatch, tmp_path: Path):
    path = build_catalog(loaded.uri)
    assert path == f"{loaded.uri}/callmine.duckdb"
    monkeypatch.chdir(tmp_path)
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == 12
    assert build_catalog(loaded.uri) == path  # refresh in place
    assert sorted(p.name for p in Path(loaded.uri).iterdir() if p.is_file()) == ["callmine.duckdb"]


def test_build_catalog_with_relative_warehouse_uses_absolute_paths(loaded: Warehouse, monkeypatch, tmp_path: Path):
    monkeypatch.chdir(Path(loaded.uri).parent)
    path = build_catalog("warehouse", db_path=str(tmp_path / "elsewhere" / "cat.duckdb"))
    monkeypatch.chdir("/")
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM words").fetchone()[0] > 0


def test_remote_warehouse_needs_an_explicit_catalog_path():
    with pytest.raises(ValueError, match="db_path"):
        build_catalog("memory://somewhere")


def test_views_sql_file_is_generated_from_the_schema():
    assert (SQL_DIR / "views.sql").read_text() == views_sql(), "regenerate: bin/callmine views --template"


def test_views_sql_runs_in_plain_duckdb(loaded: Warehouse, tmp_path: Path):
    script = fill_placeholder((SQL_DIR / "views.sql").read_text(), loaded.uri)
    assert PLACEHOLDER not in script
    with duckdb.connect() as con:
        con.execute(script)
        assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == 12
        con.execute(fill_placeholder((SQL_DIR / "views.sql").read_text(), str(tmp_path / "empty")))
        assert con.execute("SELECT count(*) FROM speaker_metrics").fetchone()[0] == 0


EXAMPLES = sorted(p for p in SQL_DIR.glob("*.sql") if p.name != "views.sql")


def test_there_are_example_queries_with_headers():
    assert len(EXAMPLES) >= 5
    for path in EXAMPLES:
        assert path.read_text().startswith("-- "), f"{path.name} needs a comment header"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_queries_run(path: Path, loaded: Warehouse, capsys):
    assert main(["sql", "--warehouse", loaded.uri, "-f", str(path)]) == 0
    out = capsys.readouterr().out
    assert "rows)" in out or "row)" in out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_queries_run_on_an_empty_warehouse(path: Path, tmp_path: Path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["sql", "--warehouse", str(tmp_path / "empty"), "-f", str(path)]) == 0
