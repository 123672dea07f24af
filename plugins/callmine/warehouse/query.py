"""Run analyst SQL against the warehouse views and render results as text tables."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

# Statement types whose rows are worth printing (DDL/DML only report counts).
_SHOWN = {
    duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN,
    duckdb.StatementType.PRAGMA, duckdb.StatementType.CALL,
}
_FETCH_BATCH = 8192


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]  # at most max_rows of them
    total_rows: int


def run_script(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int = 50) -> Iterator[QueryResult]:
    """Execute every statement; yield the (capped) result of each query statement."""
    for statement in duckdb.extract_statements(sql):
        if statement.type not in _SHOWN:
            con.execute(statement)
            continue
        relation = con.sql(statement.query)
        if relation is None:
            continue
        rows: list[tuple] = []
        total = 0
        # Arrow batches: count a million-row result without building a million tuples.
        for batch in relation.to_arrow_reader(_FETCH_BATCH):
            if len(rows) < max_rows:
                head = batch.slice(0, max_rows - len(rows))
                # Column-wise: result column names need not be unique ("SELECT 1 a, 2 a").
                rows.extend(zip(*(column.to_pylist() for column in head.columns)))
            total += batch.num_rows
        columns = list(relation.columns)
        yield QueryResult(columns, rows, total)


def format_table(result: QueryResult) -> str:
    """Aligned plain-text table; numbers right-aligned, NULL for nulls, row-count footer."""
    header = result.columns
    cells = [[_cell(v) for v in row] for row in result.rows]
    numeric = [_is_numeric([row[i] for row in result.rows]) for i in range(len(header))]
    widths = [
        max([len(name)] + [max(map(len, row[i].split("\n"))) for row in cells])
        for i, name in enumerate(header)
    ]

    def line(values: list[str], align: list[bool]) -> list[str]:
        split = [v.split("\n") for v in values]
        height = max((len(s) for s in split), default=1)
        out = []
        for k in range(height):
            parts = [
                (s[k] if k < len(s) else "").rjust(w) if right else (s[k] if k < len(s) else "").ljust(w)
                for s, w, right in zip(split, widths, align)
            ]
            out.append(" | ".join(parts).rstrip())
        return out

    lines = line(header, [False] * len(header))
    lines.append("-+-".join("-" * w for w in widths))
    for row in cells:
        lines.extend(line(row, numeric))
    shown, total = len(result.rows), result.total_rows
    noun = "row" if total == 1 else "rows"
    lines.append(f"({total} {noun})" if shown == total else f"({total} {noun}, showing the first {shown})")
    return "\n".join(lines)


def _is_numeric(values: list[object]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool) for v in present
    )


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def _float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == 0 or 1e-4 <= abs(value) < 1e15:
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    return f"{value:.4g}"
