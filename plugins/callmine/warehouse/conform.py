"""Bring incoming Arrow tables to the exact warehouse schema, or fail loudly.

Producers build tables from dicts and DataFrames, so column order, int widths, string
flavours (large_string, dictionary) and timestamp units vary. We accept all of that,
but anything that would silently lose data (an unknown column, a value that does not
fit, a null key) is an error naming the table and the column.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from callmine.warehouse.schema import DOMAINS, TABLES


class SchemaError(ValueError):
    """Rows do not fit the warehouse schema (message names table and column)."""


def conform(table_name: str, table: pa.Table, schema: pa.Schema | None = None) -> pa.Table:
    """Return ``table`` with exactly the columns, order and types of the table's schema.

    ``schema`` overrides the target (used for the on-disk schema, which lacks the
    partition column).
    """
    if table_name not in TABLES:
        raise SchemaError(f"unknown table {table_name!r}; known: {', '.join(TABLES)}")
    target = schema if schema is not None else TABLES[table_name]
    unknown = [name for name in table.column_names if target.get_field_index(name) < 0]
    if unknown:
        # Dropping them would lose data without a trace; extend the schema instead.
        raise SchemaError(f"{table_name}: unexpected column(s) {unknown}; not in the warehouse schema")
    if len(set(table.column_names)) != len(table.column_names):
        raise SchemaError(f"{table_name}: duplicate column names {table.column_names}")

    arrays = [_conform_column(table_name, table, field) for field in target]
    result = pa.Table.from_arrays(arrays, schema=target)
    _check_domains(table_name, result)
    return result


def _conform_column(table_name: str, table: pa.Table, field: pa.Field) -> pa.ChunkedArray:
    if field.name not in table.column_names:
        if not field.nullable:
            raise SchemaError(f"{table_name}: missing required column {field.name!r}")
        return pa.chunked_array([pa.nulls(table.num_rows, field.type)], type=field.type)
    column = table.column(field.name)
    if not column.type.equals(field.type):
        column = _cast(table_name, field, column)
    if not field.nullable and column.null_count:
        raise SchemaError(f"{table_name}: required column {field.name!r} has {column.null_count} null(s)")
    return column


def _cast(table_name: str, field: pa.Field, column: pa.ChunkedArray) -> pa.ChunkedArray:
    # Timestamps may arrive in ns (pandas); sub-microsecond digits are noise, truncate.
    safe = not pa.types.is_timestamp(field.type)
    try:
        return column.cast(field.type, safe=safe)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise SchemaError(
            f"{table_name}: column {field.name!r} of type {column.type} cannot be cast to {field.type}: {exc}"
        ) from exc


def _check_domains(table_name: str, table: pa.Table) -> None:
    for (name, column_name), allowed in DOMAINS.items():
        if name != table_name or column_name not in table.column_names or table.num_rows == 0:
            continue
        column = table.column(column_name)
        bad = pc.filter(column, pc.invert(pc.is_in(column, pa.array(sorted(allowed)))))
        bad = pc.drop_null(bad)  # nulls are the nullability check's business
        if len(bad):
            sample = sorted(set(bad.to_pylist()))[:5]
            raise SchemaError(
                f"{table_name}: column {column_name!r} has value(s) {sample} outside {sorted(allowed)}"
            )
