"""The callmine command line."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest

from callmine.cli import main
from callmine.warehouse import Warehouse
from callmine.warehouse.synthetic import make_day

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2024, 3, 5)


@pytest.fixture
def warehouse(tmp_path: Path) -> str:
    wh = Warehouse(str(tmp_path / "warehouse"))
    wh.replace_calls(DAY, make_day(DAY, n_calls=3, failed=1))
    return wh.uri


def test_cli_prints_query_results(warehouse: str, capsys):
    code = main(["sql", "--warehouse", warehouse, "SELECT call_id, status, duration_s FROM calls ORDER BY call_id"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].split(" | ") == ["call_id            ", "status   ", "duration_s"]
    assert lines[1].startswith("---")
    assert lines[2] == "call-20240305-00000 | completed |         16"
    assert lines[-1] == "(3 rows)"


def test_cli_runs_a_sql_file_with_several_statements(warehouse: str, tmp_path: Path, capsys):
    script = tmp_path / "q.sql"
    script.write_text("-- two results\nCREATE TEMP TABLE t AS SELECT 1 AS x;\nSELECT x FROM t;\nSELECT 2 AS y;\n")
    assert main(["sql", "--warehouse", warehouse, "-f", str(script)]) == 0
    out = capsys.readouterr().out
    assert "x\n-\n1\n(1 row)\n\ny\n-\n2\n(1 row)" in out


def test_cli_caps_long_results_with_a_note(warehouse: str, capsys):
    assert main(["sql", "--warehouse", warehouse, "--max-rows", "5", "SELECT * FROM range(1000)"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 + 5 + 1
    assert lines[-1] == "(1000 rows, showing the first 5)"


def test_cli_sql_error_exits_1_with_one_line(warehouse: str, capsys):
    assert main(["sql", "--warehouse", warehouse, "SELECT nope FROM calls"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("callmine: error: Binder Error")


def test_cli_needs_a_query_or_a_file(warehouse: str, capsys):
    assert main(["sql", "--warehouse", warehouse]) == 1
    assert "give either a query or -f FILE" in capsys.readouterr().err


def test_cli_missing_sql_file_exits_1(warehouse: str, tmp_path: Path, capsys):
    assert main(["sql", "--warehouse", warehouse, "-f", str(tmp_path / "missing.sql")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_cli_fills_the_warehouse_placeholder(warehouse: str, capsys):
    query = "SELECT count(*) AS n FROM read_parquet('${WAREHOUSE}/calls/*/*.parquet')"
    assert main(["sql", "--warehouse", warehouse, query]) == 0
    assert capsys.readouterr().out.splitlines()[2].strip() == "3"


def test_cli_takes_the_warehouse_from_the_environment(warehouse: str, monkeypatch, capsys):
    monkeypatch.setenv("CALLMINE_WAREHOUSE_URI", warehouse)
    assert main(["sql", "SELECT count(*) AS n FROM calls"]) == 0
    assert capsys.readouterr().out.splitlines()[2].strip() == "3"


def test_cli_catalog_builds_the_duckdb_file(warehouse: str, capsys):
    assert main(["catalog", "--warehouse", warehouse]) == 0
    path = capsys.readouterr().out.strip()
    assert path == f"{warehouse}/callmine.duckdb" and Path(path).is_file()


def test_cli_views_prints_a_filled_in_script(warehouse: str, capsys):
    assert main(["views", "--warehouse", warehouse]) == 0
    out = capsys.readouterr().out
    assert f"read_parquet('{warehouse}/calls/call_month=*/*.parquet'" in out and "${WAREHOUSE}" not in out


def test_bin_wrapper_runs_the_cli(warehouse: str):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(REPO / "bin" / "callmine"), "sql", "--warehouse", warehouse, "SELECT count(*) AS n FROM words"],
        capture_output=True, text=True, env=env, cwd="/", timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "(1 row)"


def test_a_missing_warehouse_is_an_error_naming_the_path(tmp_path: Path, capsys):
    missing = tmp_path / "no-such-warehouse"
    assert main(["sql", "--warehouse", str(missing), "SELECT * FROM calls"]) == 1
    err = capsys.readouterr().err
    assert f"no warehouse at {missing}" in err


def test_the_bin_wrapper_exits_non_zero_for_a_missing_warehouse(tmp_path: Path):
    done = subprocess.run(
        [str(REPO / "bin" / "callmine"), "sql", "--warehouse", str(tmp_path / "typo"), "SELECT 1"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1 and "no warehouse at" in done.stderr and done.stdout == ""


def test_relative_warehouse_paths_resolve_under_the_project_root_from_any_directory(tmp_path: Path):
    """The DAG resolves relative paths under CALLMINE_HOME; the CLI does the same, not from the cwd."""
    home = tmp_path / "project"
    wh = Warehouse(str(home / "data" / "warehouse"))
    wh.replace_calls(DAY, make_day(DAY, n_calls=2, failed=0))
    env = {**os.environ, "CALLMINE_HOME": str(home)}
    env.pop("CALLMINE_WAREHOUSE_URI", None)
    done = subprocess.run(
        [str(REPO / "bin" / "callmine"), "sql", "SELECT count(*) AS n FROM calls"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2].strip() == "2"


def test_run_needs_a_date_or_a_range(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--source", "x"])
    assert "one of the arguments --date --from is required" in capsys.readouterr().err


def test_run_refuses_a_range_that_ends_before_it_starts(tmp_path: Path, capsys):
    assert main(["run", "--source", str(tmp_path), "--from", "2026-11-07", "--to", "2026-11-01"]) == 1
    assert "--to 2026-11-01 is before --from 2026-11-07" in capsys.readouterr().err


def test_run_refuses_a_missing_recordings_folder(tmp_path: Path, capsys):
    assert main(["run", "--source", str(tmp_path / "nope"), "--date", "2026-11-20"]) == 1
    assert f"no recordings folder at {tmp_path / 'nope'}" in capsys.readouterr().err
