"""``callmine`` command line: ``python -m callmine <command> ...`` or ``bin/callmine``.

To add a command, write an ``_add_<name>(subparsers)`` function that registers a
subparser with ``set_defaults(handler=...)`` and list it in ``COMMANDS``. A handler
takes the parsed ``argparse.Namespace`` and returns the exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_WAREHOUSE = "data/warehouse"
WAREHOUSE_ENV = "CALLMINE_WAREHOUSE_URI"


class CommandError(Exception):
    """An expected failure: printed as one line, exit code 1."""


# -- commands ---------------------------------------------------------------


def _add_sql(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "sql", parents=[common], help="run SQL against the warehouse views",
        description="Run DuckDB SQL against the warehouse views (calls, segments, words, ...). "
        "${WAREHOUSE} in the SQL is replaced by the warehouse root.",
    )
    p.add_argument("query", nargs="?", help="SQL text (one or more statements)")
    p.add_argument("-f", "--file", type=Path, help="run the statements of a .sql file")
    p.add_argument("--max-rows", type=int, default=50, help="rows printed per result (default 50)")
    p.set_defaults(handler=_run_sql)


def _run_sql(args: argparse.Namespace) -> int:
    import duckdb

    from callmine.warehouse.catalog import connect
    from callmine.warehouse.query import format_table, run_script
    from callmine.warehouse.views import fill_placeholder

    if (args.query is None) == (args.file is None):
        raise CommandError("give either a query or -f FILE (not both)")
    try:
        sql = args.file.read_text() if args.file else args.query
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from exc
    sql = fill_placeholder(sql, _warehouse_root(args.warehouse))
    try:
        with connect(args.warehouse) as con:
            results = run_script(con, sql, max_rows=max(args.max_rows, 0))
            for i, result in enumerate(results):
                print(("\n" if i else "") + format_table(result))
    except duckdb.Error as exc:
        raise CommandError(_first_line(exc)) from exc
    return 0


def _add_catalog(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "catalog", parents=[common], help="(re)build the DuckDB catalog file of views",
        description="Create or refresh the .duckdb file (views only) analysts can attach.",
    )
    p.add_argument("--db", help="catalog path (default <warehouse>/callmine.duckdb)")
    p.set_defaults(handler=_run_catalog)


def _run_catalog(args: argparse.Namespace) -> int:
    from callmine.warehouse.catalog import build_catalog

    print(build_catalog(args.warehouse, args.db))
    return 0


def _add_views(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "views", parents=[common], help="print the CREATE VIEW script for the warehouse",
        description="Print the views as SQL, filled in for --warehouse, to paste into any DuckDB.",
    )
    p.add_argument("--template", action="store_true", help="keep the ${WAREHOUSE} placeholder")
    p.set_defaults(handler=_run_views)


def _run_views(args: argparse.Namespace) -> int:
    from callmine.warehouse.views import views_sql

    print(views_sql() if args.template else views_sql(_warehouse_root(args.warehouse)), end="")
    return 0


def _add_bench(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "bench", help="time replace_calls on a synthetic day",
        description="Load a synthetic day into a temp warehouse, then reload half of it.",
    )
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--words-per-call", type=int, default=500)
    p.set_defaults(handler=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from callmine.warehouse.synthetic import bench_replace_calls

    r = bench_replace_calls(args.calls, args.words_per_call)
    print(f"words={r.words} first_load_s={r.first_load_s:.3f} reload_half_s={r.reload_half_s:.3f}")
    return 0


COMMANDS: list[Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None]] = [
    _add_sql, _add_catalog, _add_views, _add_bench,
]


# -- plumbing ---------------------------------------------------------------


def _warehouse_root(uri: str) -> str:
    from callmine.warehouse.storage import Storage

    return Storage(uri).root_url


def build_parser() -> argparse.ArgumentParser:
    # Shared options live on a parent parser so they go after the command name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--warehouse", default=os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE,
        help=f"warehouse root: path or fsspec URL (default ${WAREHOUSE_ENV} or {DEFAULT_WAREHOUSE})",
    )
    parser = argparse.ArgumentParser(prog="callmine", description="Mine recorded phone calls.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CommandError as exc:
        print(f"callmine: error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:  # bad URL, unreadable warehouse...
        print(f"callmine: error: {_first_line(exc)}", file=sys.stderr)
        return 1


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
