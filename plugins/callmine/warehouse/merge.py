"""Pure-Arrow merges: one day's calls replaced inside a month file sorted by call_date.

No per-row Python: a day holds ~1M words, so everything is an Arrow kernel
(``is_in`` filter, ``concat_tables``, ``sort_by``, vectorised neighbour compare).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from callmine.warehouse.schema import PARTITION_COLUMN, SPECS


class DuplicateKeyError(ValueError):
    """A load would leave two rows with the same key in one partition."""


@dataclass(frozen=True, slots=True)
class MergedTable:
    table: pa.Table
    kept: int  # existing rows of other calls, carried over
    removed: int  # existing rows of the reloaded calls, dropped
    added: int  # new rows
    day_rows: int = 0  # rows of the loaded call_date afterwards (merge_day_into_month)


def merge_partition_table(
    table_name: str,
    existing: pa.Table | None,
    incoming: pa.Table,
    replaced_ids: pa.Array,
) -> MergedTable:
    """Rows of ``existing`` whose call_id is not in ``replaced_ids``, plus ``incoming``.

    Both tables must already be conformed to the same schema. The result is sorted by
    the table's key, which is checked for uniqueness.
    """
    spec = SPECS[table_name]
    if existing is None or existing.num_rows == 0:
        kept, removed = incoming.slice(0, 0), 0
    else:
        drop = pc.is_in(existing.column("call_id"), value_set=replaced_ids)
        kept = existing.filter(pc.invert(drop))
        removed = existing.num_rows - kept.num_rows
    merged = pa.concat_tables([kept, incoming]) if kept.num_rows else incoming
    merged = merged.sort_by([(column, "ascending") for column in spec.key]).combine_chunks()
    check_unique(table_name, merged, spec.key, presorted=True)
    return MergedTable(merged, kept=kept.num_rows, removed=removed, added=incoming.num_rows)


def merge_day_into_month(
    table_name: str,
    month: pa.Table | None,
    incoming: pa.Table,
    call_date: dt.date,
    replaced_ids: pa.Array,
) -> MergedTable:
    """``month`` with the ``call_date`` rows of the reloaded calls replaced by ``incoming``.

    All tables are conformed to the stored schema (with ``call_date``). The month file is
    sorted by ``(call_date, *key)``, so the day is one contiguous slice: only that slice
    is merged and re-sorted; the rows before and after it are carried over as they are.
    """
    key = [(column, "ascending") for column in SPECS[table_name].key]
    if month is None or month.num_rows == 0:
        day = merge_partition_table(table_name, None, incoming, replaced_ids)
        return MergedTable(day.table, kept=0, removed=0, added=day.added, day_rows=day.table.num_rows)
    dates = month.column(PARTITION_COLUMN)
    if not _non_decreasing(dates):  # written by something else: sort once
        month = month.sort_by([(PARTITION_COLUMN, "ascending"), *key])
        dates = month.column(PARTITION_COLUMN)
    day_value = pa.scalar(call_date, pa.date32())
    start = pc.sum(pc.less(dates, day_value)).as_py() or 0
    length = pc.sum(pc.equal(dates, day_value)).as_py() or 0
    day = merge_partition_table(table_name, month.slice(start, length), incoming, replaced_ids)
    parts = [month.slice(0, start), day.table, month.slice(start + length)]
    merged = pa.concat_tables([part for part in parts if part.num_rows] or [day.table])
    return MergedTable(
        merged, kept=month.num_rows - day.removed, removed=day.removed, added=day.added, day_rows=day.table.num_rows,
    )


def _non_decreasing(column: pa.ChunkedArray) -> bool:
    if len(column) < 2 or column.null_count:
        return column.null_count == 0
    column = column.combine_chunks()
    return pc.all(pc.greater_equal(column.slice(1), column.slice(0, len(column) - 1))).as_py()


def check_unique(table_name: str, table: pa.Table, key: tuple[str, ...], presorted: bool = False) -> None:
    """Raise DuplicateKeyError naming up to 5 duplicated keys."""
    if table.num_rows < 2:
        return
    if not presorted:
        table = table.sort_by([(column, "ascending") for column in key])
    # Sorted, so duplicates are neighbours: row i equals row i-1 on every key column.
    same = None
    for column_name in key:
        column = table.column(column_name)
        equal = pc.equal(column.slice(1), column.slice(0, len(column) - 1))
        same = equal if same is None else pc.and_(same, equal)
    same = pc.fill_null(same, False)
    if not pc.any(same).as_py():
        return
    duplicates = table.slice(1).select(list(key)).filter(same)
    sample = duplicates.slice(0, 5).to_pylist()
    raise DuplicateKeyError(
        f"{table_name}: {duplicates.num_rows} duplicate key(s) on {list(key)}, e.g. {sample}; nothing was written"
    )


def call_ids_missing_from(table: pa.Table, required_ids: pa.Array) -> list[str]:
    """Those of ``required_ids`` with no row in ``table`` (sorted, for messages)."""
    present = pc.is_in(required_ids, value_set=pc.unique(table.column("call_id")))
    return sorted(pc.filter(required_ids, pc.invert(present)).to_pylist())


def call_ids_not_in(table: pa.Table, allowed_ids: pa.Array) -> list[str]:
    """Distinct call_ids of ``table`` that are not in ``allowed_ids`` (sorted)."""
    ids = pc.unique(table.column("call_id"))
    return sorted(pc.filter(ids, pc.invert(pc.is_in(ids, value_set=allowed_ids))).to_pylist())
