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
    warehouse = _existing_warehouse(args.warehouse)
    sql = fill_placeholder(sql, _warehouse_root(warehouse))
    try:
        with connect(warehouse) as con:
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

    print(build_catalog(_existing_warehouse(args.warehouse), args.db))
    return 0


def _add_migrate(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "migrate", parents=[common], help="rewrite a daily-layout warehouse into monthly files",
        description="Rewrite a warehouse written before the monthly layout (one file per table per day) "
        "into one file per table per month, in place. Month by month, each month published atomically; "
        "safe to interrupt and re-run. Pause the DAGs while it runs on an object store.",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would be merged, change nothing")
    p.set_defaults(handler=_run_migrate)


def _run_migrate(args: argparse.Namespace) -> int:
    from callmine.warehouse.catalog import build_catalog
    from callmine.warehouse.migrate import migrate_layout
    from callmine.warehouse.storage import Storage

    warehouse = _existing_warehouse(args.warehouse)
    storage = Storage(warehouse)
    report = migrate_layout(storage, dry_run=args.dry_run)
    if report.months and not args.dry_run:
        print(f"migrated {report.day_folders} daily folder(s) into {len(report.months)} month(s)")
        if storage.is_local:
            print(f"catalog: {build_catalog(warehouse)}")
    return 1 if report.unreadable else 0


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


def _add_run(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "run", parents=[common], help="run the pipeline locally on a folder of recordings",
        description="Transcribe and load the recordings of one day (airflow dags test) or a range "
        "(a backfill on a local Airflow), then print the days' summary. Without a provider "
        "connection the embedded speech engine transcribes (offline, no key).",
    )
    p.add_argument("--source", required=True, type=Path,
                   help="folder of recordings (YYYY/MM/DD/ folders or YYYY-MM-DD in file names)")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", type=_iso_date, help="one call date, YYYY-MM-DD")
    when.add_argument("--from", dest="from_date", type=_iso_date, help="first call date of a range")
    p.add_argument("--to", dest="to_date", type=_iso_date, help="last call date of a range (inclusive)")
    p.add_argument("--batch-size", type=int, help="recordings per batch (DAG param batch_size)")
    p.add_argument("--language", help="language of the calls, e.g. en (DAG param language)")
    p.add_argument("--speakers", type=int, help="expected speakers in mono recordings (default 2)")
    p.add_argument("--insights", choices=["lexical", "llm", "off"],
                   help="call insights analyzer (DAG param insights; default lexical)")
    p.add_argument("--reprocess", action="store_true", help="transcribe again calls already loaded")
    p.set_defaults(handler=_run_run)


def _run_run(args: argparse.Namespace) -> int:
    from callmine.config import resolve_uri
    from callmine.local.commands import RunError, RunRequest, check_source, day_range, run

    if args.date and args.to_date:
        raise CommandError("--to goes with --from, not with --date")
    if args.from_date and not args.to_date:
        raise CommandError("--from needs --to (or use --date for one day)")
    try:
        days = [args.date] if args.date else day_range(args.from_date, args.to_date)
        source = check_source(Path(resolve_uri(str(args.source))).resolve())
        warehouse = resolve_uri(args.warehouse)
        conf = {"source_uri": source, "warehouse_uri": warehouse}
        for name in ("batch_size", "language", "speakers", "insights"):
            if getattr(args, name) is not None:
                conf[name] = getattr(args, name)
        if args.reprocess:
            conf["reprocess"] = True
        return run(RunRequest(source=source, warehouse=warehouse, days=days, conf=conf))
    except RunError as exc:
        raise CommandError(str(exc)) from exc


def _add_up(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "up", help="start a local deployment (engine, api-server, scheduler, dag-processor, triggerer)",
        description="Start a local Airflow deployment that keeps running (and the embedded engine when "
        "no provider connection is configured); prints the UI address and login.",
    )
    p.set_defaults(handler=lambda args: _local("up"))


def _add_down(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("down", help="stop the local deployment started by `callmine up`")
    p.set_defaults(handler=lambda args: _local("down"))


def _local(command: str) -> int:
    from callmine.local import commands

    return getattr(commands, command)()


def _add_airflow(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "airflow", help="run an airflow CLI command against the project-local Airflow home",
        description="e.g. callmine airflow dags test call_archive_mining 2026-11-20",
        prefix_chars="\0",  # every argument goes to airflow unchanged
    )
    p.add_argument("airflow_args", nargs=argparse.REMAINDER)
    p.set_defaults(handler=lambda args: _airflow(args.airflow_args))


def _airflow(airflow_args: list[str]) -> int:
    from callmine.local.commands import airflow_cli

    return airflow_cli(airflow_args)


def _add_ask(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "ask", parents=[common], help="ask a call (or a day's calls) a question",
        description="Answer a question from a call's transcript with the LLM of the Airflow connection "
        "llm_default, citing the segments it relied on; without an LLM, show the best-matching segments.",
    )
    p.add_argument("call_id", nargs="?", help="the call (calls.call_id)")
    p.add_argument("question", help='e.g. "Did the customer agree to the terms?"')
    p.add_argument("--date", type=_iso_date, help="ask every completed call of this call date instead")
    p.set_defaults(handler=_run_ask)


def _run_ask(args: argparse.Namespace) -> int:
    from callmine.insights.ask_command import NO_LLM, answer_questions, load_calls

    if (args.call_id is None) == (args.date is None):
        raise CommandError("give either a CALL_ID or --date D (not both)")
    warehouse = _existing_warehouse(args.warehouse)
    calls = load_calls(warehouse, call_id=args.call_id, call_date=args.date.isoformat() if args.date else None)
    if not calls:
        raise CommandError(f"no completed call {args.call_id or 'on ' + args.date.isoformat()} in {warehouse}")
    from callmine.hooks.llm import LLMConfigurationError

    factory = _llm_analyzer_factory()
    if factory is None:
        print(NO_LLM)
    try:
        return answer_questions(calls, args.question, factory)
    except LLMConfigurationError as exc:
        raise CommandError(str(exc)) from None


def _llm_analyzer_factory():
    """A factory of LLM analyzers when llm_default is configured (env or the local Airflow home), else None."""
    from callmine.local.home import LocalHome

    os.environ.setdefault("AIRFLOW_HOME", str(LocalHome().airflow_home))
    from callmine.hooks.llm import LLMConfigurationError, LLMHook
    from callmine.insights.llm import LLMAnalyzer

    hook = LLMHook()
    try:
        settings = hook.get_settings()
    except LLMConfigurationError:
        return None
    return lambda: LLMAnalyzer(settings)


COMMANDS: list[Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None]] = [
    _add_sql, _add_catalog, _add_views, _add_migrate, _add_run, _add_up, _add_down, _add_airflow, _add_ask,
]


# -- plumbing ---------------------------------------------------------------


def _warehouse_root(uri: str) -> str:
    from callmine.warehouse.storage import Storage

    return Storage(uri).root_url


def _existing_warehouse(uri: str) -> str:
    """The resolved warehouse root; a warehouse that does not exist is an error, not an empty result."""
    from callmine.warehouse.storage import Storage

    storage = Storage(uri)
    _library_logs_to_stderr()  # an s3:// lookup imported Airflow, whose logging prints INFO to stdout
    if not storage.fs.exists(storage.root):
        raise CommandError(
            f"no warehouse at {storage.root_url} (load calls first: bin/callmine run --source DIR --date D, "
            "or the demo; or pass --warehouse)"
        )
    return uri


def _library_logs_to_stderr() -> None:
    """Keep stdout for results: libraries' log lines go to stderr, warnings and worse only."""
    import logging

    root = logging.getLogger()
    for handler in root.handlers:
        # Only a plain handler on the process's stdout (Airflow's); never a file or a test's capture.
        if type(handler) is logging.StreamHandler and getattr(handler.stream, "name", None) == "<stdout>":
            handler.setStream(sys.stderr)
            handler.setLevel(max(handler.level, logging.WARNING))


def _iso_date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    # Shared options live on a parent parser so they go after the command name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--warehouse", default=os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE,
        help=f"warehouse root: path or fsspec URL; relative paths are under the project root "
        f"(default ${WAREHOUSE_ENV} or {DEFAULT_WAREHOUSE})",
    )
    parser = argparse.ArgumentParser(prog="callmine", description="Mine recorded phone calls.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "warehouse", None):
        from callmine.config import resolve_uri

        args.warehouse = resolve_uri(args.warehouse)  # relative: under the project root, as in the DAG
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
