"""SQL view definitions for DuckDB, generated from the Arrow schemas.

Each view is::

    SELECT <columns in schema order> FROM (
        <typed empty row set>  UNION ALL BY NAME  read_parquet(<table glob>, allow_empty)
    )

The typed empty row set pins every column's type and makes the view work (empty,
correctly typed) before the table has any file; with files it adds no rows. It also
fills columns missing from files written before a column was added to the schema.
``call_date`` comes from the hive path only (it is not stored in the files).
"""

from __future__ import annotations

import re

import pyarrow as pa

from callmine.warehouse.layout import TABLE_GLOB
from callmine.warehouse.schema import PARTITION_COLUMN, SPECS, TABLES

PLACEHOLDER = "${WAREHOUSE}"

_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")
_RESERVED = frozenset({"ORDER", "GROUP", "SELECT", "FROM", "WHERE", "USER", "END", "CAST", "TABLE", "DESC"})

HEADER = f"""\
-- callmine warehouse views for DuckDB (generated from callmine/warehouse/schema.py;
-- regenerate with `bin/callmine views --template > include/sql/views.sql`).
-- Replace {PLACEHOLDER} with the warehouse root (an absolute path, or s3://... with
-- httpfs loaded), or let `bin/callmine views` print it filled in.
-- Every view works, empty and typed, even before its table has any file.
"""


def duckdb_type(arrow_type: pa.DataType) -> str:
    """DuckDB SQL type for an Arrow type used in the schema."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "VARCHAR"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return f"{duckdb_type(arrow_type.value_type)}[]"
    if pa.types.is_struct(arrow_type):
        fields = ", ".join(f"{_ident(f.name)} {duckdb_type(f.type)}" for f in arrow_type)
        return f"STRUCT({fields})"
    simple = {
        pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
        pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN", pa.date32(): "DATE",
    }
    if arrow_type in simple:
        return simple[arrow_type]
    raise TypeError(f"no DuckDB mapping for Arrow type {arrow_type}")


def view_columns(table: str) -> list[pa.Field]:
    """View column order: the schema's, with call_date appended where not already in it."""
    schema = TABLES[table]
    fields = list(schema)
    if schema.get_field_index(PARTITION_COLUMN) < 0:
        fields.append(pa.field(PARTITION_COLUMN, pa.date32()))
    return fields


def view_sql(table: str, root: str) -> str:
    fields = view_columns(table)
    typed_empty = ",\n        ".join(f"CAST(NULL AS {duckdb_type(f.type)}) AS {_ident(f.name)}" for f in fields)
    columns = ", ".join(_ident(f.name) for f in fields)
    glob = _literal(f"{root.rstrip('/')}/{TABLE_GLOB.format(table=table)}")
    return (
        f"-- {table}: {SPECS[table].grain}; key ({', '.join(SPECS[table].key)})\n"
        f"CREATE OR REPLACE VIEW {_ident(table)} AS\n"
        f"SELECT {columns}\n"
        f"FROM (\n"
        f"    SELECT\n        {typed_empty}\n    WHERE false\n"
        f"    UNION ALL BY NAME\n"
        f"    SELECT * FROM read_parquet({glob},\n"
        f"        hive_partitioning = true, hive_types = {{'{PARTITION_COLUMN}': 'DATE'}},\n"
        f"        union_by_name = true, allow_empty = true)\n"
        f");\n"
    )


def views_sql(root: str = PLACEHOLDER) -> str:
    """All views as one script; with the default root it is the shipped template."""
    return HEADER + "\n" + "\n".join(view_sql(table, root) for table in TABLES)


def fill_placeholder(sql: str, root: str) -> str:
    """Substitute the warehouse root into a template (quotes escaped for SQL literals)."""
    return sql.replace(PLACEHOLDER, root.rstrip("/").replace("'", "''"))


def _ident(name: str) -> str:
    # Our names are plain snake_case and none is a reserved word; quote anything else.
    if _PLAIN.match(name) and name.upper() not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    if PLACEHOLDER in text:  # escaped when filled in
        return f"'{text}'"
    return "'" + text.replace("'", "''") + "'"
