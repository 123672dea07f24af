"""The Parquet warehouse: schema, atomic partitioned storage, staging and DuckDB views.

    from callmine.warehouse import Warehouse, TABLES
"""

from callmine.warehouse.catalog import build_catalog, connect
from callmine.warehouse.conform import SchemaError, conform
from callmine.warehouse.merge import DuplicateKeyError
from callmine.warehouse.schema import PARTITION_COLUMN, SPECS, TABLES, TableSpec, file_schema
from callmine.warehouse.store import LoadResult, Warehouse
from callmine.warehouse.views import views_sql

__all__ = [
    "PARTITION_COLUMN",
    "SPECS",
    "TABLES",
    "DuplicateKeyError",
    "LoadResult",
    "SchemaError",
    "TableSpec",
    "Warehouse",
    "build_catalog",
    "conform",
    "connect",
    "file_schema",
    "views_sql",
]
