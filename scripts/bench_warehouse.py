"""Warehouse layout benchmark: the project's monthly layout against one Parquet file per table.

Usage::

    PYTHONPATH=plugins:. .venv/bin/python scripts/bench_warehouse.py                # a synthetic year
    PYTHONPATH=plugins:. .venv/bin/python scripts/bench_warehouse.py --days 60 --calls 100 --repeats 5

- Builds a synthetic year (``--days`` days from ``--start``, ``--calls`` calls a day,
  ``--segments`` x ``--words`` words per call; ``callmine.warehouse.synthetic.make_day``)
  with the project's own load path: ``Warehouse.replace_calls`` day by day, so the
  monthly files are exactly what the nightly loads leave behind.
- The baseline is the same rows in one Parquet file per table (read back from the
  project layout, sorted by ``call_date`` then key, same writer settings), read by
  plain ``read_parquet('<file>')`` views with the same names.
- Runs every query script in ``include/sql/`` (except views.sql) and two point lookups
  by ``call_id`` against both, interleaved (project, baseline, baseline, project, ...)
  ``--repeats`` times after a warm-up, and prints the median of each. The ratio is
  project / baseline; the last line is ``worst ratio X.XX``.
- Load cost per day, from the build: loading a day into an empty month (what the old
  daily layout did for every day), into a month already holding 29 days, and reloading
  a day of a full month.

Numbers only, never a pass/fail on time: machines are noisy, so compare ratios from the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from callmine.warehouse import SPECS, TABLES, Warehouse, connect
from callmine.warehouse.storage import COMPRESSION, ROW_GROUP_SIZE
from callmine.warehouse.synthetic import make_day

ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = ROOT / "include" / "sql"


def build_project(root: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    """Load the synthetic year day by day; returns load seconds by kind of day."""
    warehouse = Warehouse(str(root))
    costs: dict[str, list[float]] = {"empty month": [], "month holding 29 days": []}
    days = [args.start + dt.timedelta(days=n) for n in range(args.days)]
    built = time.perf_counter()
    for n, day in enumerate(days):
        tables = make_day(day, n_calls=args.calls, segments_per_call=args.segments, words_per_segment=args.words,
                          failed=args.calls // 50, seed=n, insights=True)
        started = time.perf_counter()
        warehouse.replace_calls(day, tables)
        took = time.perf_counter() - started
        if day.day == 1:
            costs["empty month"].append(took)
        elif day.day == 30:
            costs["month holding 29 days"].append(took)
        if n % 30 == 29:
            print(f"  loaded {n + 1} days ({time.perf_counter() - built:.0f} s)", file=sys.stderr)
    # Reload (same calls, as a retry would) a middle day of every full month.
    reloads = []
    for day in days:
        if day.day == 15 and (day + dt.timedelta(days=16)).month != day.month:
            tables = make_day(day, n_calls=args.calls, segments_per_call=args.segments, words_per_segment=args.words,
                              failed=args.calls // 50, seed=days.index(day), insights=True)
            started = time.perf_counter()
            warehouse.replace_calls(day, tables)
            reloads.append(time.perf_counter() - started)
    costs["reload of a day in a full month"] = reloads
    return costs


def build_one_file(project: Path, one: Path) -> None:
    one.mkdir(parents=True, exist_ok=True)
    with connect(str(project)) as con:
        for name in TABLES:
            table = con.sql(f"SELECT * FROM {name}").to_arrow_table()
            table = table.sort_by([("call_date", "ascending")] + [(c, "ascending") for c in SPECS[name].key])
            text = [f.name for f in table.schema if pa.types.is_string(f.type)]
            pq.write_table(table, one / f"{name}.parquet", compression=COMPRESSION, row_group_size=ROW_GROUP_SIZE,
                           use_dictionary=text)


def one_file_connection(one: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name in TABLES:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{one / (name + '.parquet')}')")
    return con


def queries(args: argparse.Namespace) -> dict[str, str]:
    found = {p.stem: p.read_text() for p in sorted(SQL_DIR.glob("*.sql")) if p.name != "views.sql"}
    middle = args.start + dt.timedelta(days=args.days // 2)
    call_id = f"call-{middle:%Y%m%d}-{args.calls // 2:05d}"
    found["point lookup: calls by call_id"] = f"SELECT * FROM calls WHERE call_id = '{call_id}'"
    found["point lookup: words by call_id"] = f"SELECT * FROM words WHERE call_id = '{call_id}' ORDER BY word_idx"
    return found


def run(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    started = time.perf_counter()
    for statement in duckdb.extract_statements(sql):
        con.sql(statement.query).to_arrow_table() if statement.type == duckdb.StatementType.SELECT else con.execute(statement)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--calls", type=int, default=300, help="calls a day")
    parser.add_argument("--segments", type=int, default=20, help="segments per call")
    parser.add_argument("--words", type=int, default=8, help="words per segment")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2025, 1, 1))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--workdir", type=Path, help="keep the two layouts here (default: a temp dir)")
    args = parser.parse_args()

    print(f"# PYTHONPATH=plugins:. .venv/bin/python scripts/bench_warehouse.py --days {args.days} --calls {args.calls} "
          f"--segments {args.segments} --words {args.words} --repeats {args.repeats}")
    with tempfile.TemporaryDirectory(prefix="callmine-bench-warehouse-") as temp:
        work = args.workdir or Path(temp)
        project, one = work / "project", work / "one-file"
        started = time.perf_counter()
        costs = build_project(project, args)
        build_s = time.perf_counter() - started
        build_one_file(project, one)
        files = {name: len(list((project / name).glob("call_month=*/*.parquet"))) for name in TABLES}
        with connect(str(project)) as con:
            words = con.execute("SELECT count(*) FROM words").fetchone()[0]
        print(f"synthetic year: {args.days} days x {args.calls} calls, {words:,} words; project layout built in "
              f"{build_s:.0f} s; files per table: {max(files.values())} (project) vs 1 (one file)")

        print("\nload cost per day (replace_calls, median seconds):")
        for kind, seconds in costs.items():
            if seconds:
                print(f"  {kind:34s} {statistics.median(seconds):7.3f} s   (n={len(seconds)})")

        todo = queries(args)
        layouts = {"project": connect(str(project)), "one file": one_file_connection(one)}
        timings: dict[str, dict[str, list[float]]] = {q: {k: [] for k in layouts} for q in todo}
        for name, sql in todo.items():  # warm-up: caches and plans
            for con in layouts.values():
                run(con, sql)
        for repeat in range(args.repeats):
            order = list(layouts) if repeat % 2 == 0 else list(reversed(layouts))
            for name, sql in todo.items():
                for layout in order:
                    timings[name][layout].append(run(layouts[layout], sql))

        print(f"\n{'query':44s} {'project':>10s} {'one file':>10s} {'ratio':>7s}")
        worst = 0.0
        for name in todo:
            project_ms = statistics.median(timings[name]["project"]) * 1000
            one_ms = statistics.median(timings[name]["one file"]) * 1000
            ratio = project_ms / one_ms
            worst = max(worst, ratio)
            print(f"{name:44s} {project_ms:8.1f}ms {one_ms:8.1f}ms {ratio:7.2f}")
        for con in layouts.values():
            con.close()
    print(f"worst ratio {worst:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
