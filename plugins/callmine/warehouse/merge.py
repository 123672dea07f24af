"""Pure-Arrow merges: one day's calls replaced inside a month file sorted by call_date.

No per-row Python: a day holds ~1M words, so everything is an Arrow kernel
(``is_in`` filter, ``concat_tables``, ``sort_by``, vectorised neighbour compare).
Large tables arriving as per-call runs in key order skip ``sort_by`` (``sort_call_runs``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from callmine.warehouse.schema import PARTITION_COLUMN, SPECS


# Below this, sort_by is cheap (calls, speaker_metrics, keyword_hits: a few ms at most).
SMALL_TABLE_ROWS = 32_768


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
    by_runs = sort_call_runs(merged, spec.key)
    if by_runs is not None:  # sorted and unique by construction: no full sort, no duplicate scan
        merged = by_runs.combine_chunks()
    else:
        merged = merged.sort_by([(column, "ascending") for column in spec.key]).combine_chunks()
        check_unique(table_name, merged, spec.key, presorted=True)
    return MergedTable(merged, kept=kept.num_rows, removed=removed, added=incoming.num_rows)


def sort_call_runs(table: pa.Table, key: tuple[str, ...], min_rows: int = SMALL_TABLE_ROWS) -> pa.Table | None:
    """``table`` sorted by ``key`` (zero-copy slices), or None if it needs a full sort.

    Rows arrive as one contiguous run per call (a batch builds a call's rows together,
    and the month's kept rows are sorted), each run already in key order; only the runs
    are out of order (call_ids are hashes). Then moving whole runs sorts the table, with
    vectorised neighbour compares instead of a sort and a gather of every row. Returned
    only if every key is strictly greater than the previous one, so the result equals
    ``sort_by(key)`` and has no duplicate key. Anything else (a call split over two
    runs, ties, nulls, NaN) returns None, and so does a small table: sorting it costs
    less than moving its short runs one by one.
    """
    rows = table.num_rows
    if rows < max(min_rows, 2):
        return None
    run_column = table.column(key[0])
    if run_column.null_count:
        return None
    starts_run = pc.not_equal(run_column.slice(1), run_column.slice(0, rows - 1))  # row i+1 starts a run
    if len(key) > 1:
        # Within a run, the rest of the key must increase strictly (lexicographically).
        in_order = pc.or_(starts_run, _strictly_increasing(table, key[1:]))
    else:
        in_order = starts_run  # the key is the run column alone: one row per run
    if not pc.all(pc.fill_null(in_order, False)).as_py():
        return None
    starts = pc.add(pc.indices_nonzero(starts_run), 1).to_pylist()
    starts.insert(0, 0)
    # One scalar per run: cheaper than a take over a column of many chunks.
    run_keys = pa.array([run_column[i].as_py() for i in starts], run_column.type)
    order = pc.sort_indices(run_keys).to_pylist()
    sorted_keys = run_keys.take(pa.array(order, pa.int64()))
    if len(sorted_keys) > 1 and not pc.all(pc.less(sorted_keys.slice(0, len(sorted_keys) - 1),
                                                   sorted_keys.slice(1))).as_py():
        return None  # some call has two runs: they would have to interleave
    if order == list(range(len(order))):
        return table
    ends = [*starts[1:], rows]
    return pa.concat_tables([table.slice(starts[i], ends[i] - starts[i]) for i in order])


def _strictly_increasing(table: pa.Table, columns: tuple[str, ...]) -> pa.ChunkedArray:
    """Per row i >= 1: is row i's tuple of ``columns`` greater than row i-1's (null if unknown)."""
    rows = table.num_rows
    greater = equal = None
    for name in columns:
        column = table.column(name)
        before, after = column.slice(0, rows - 1), column.slice(1)
        column_greater, column_equal = pc.greater(after, before), pc.equal(after, before)
        if greater is None:
            greater, equal = column_greater, column_equal
        else:
            greater = pc.or_(greater, pc.and_(equal, column_greater))
            equal = pc.and_(equal, column_equal)
    return greater


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


def call_ids_missing_from(table: pa.Table, required_ids: pa.Array, distinct: pa.Array | None = None) -> list[str]:
    """Those of ``required_ids`` with no row in ``table`` (sorted, for messages).

    ``distinct``: the table's distinct call_ids if the caller has them (hashing 1M ids costs).
    """
    ids = pc.unique(table.column("call_id")) if distinct is None else distinct
    present = pc.is_in(required_ids, value_set=ids)
    return sorted(pc.filter(required_ids, pc.invert(present)).to_pylist())


def call_ids_not_in(table: pa.Table, allowed_ids: pa.Array, distinct: pa.Array | None = None) -> list[str]:
    """Distinct call_ids of ``table`` that are not in ``allowed_ids`` (sorted); ``distinct`` as above."""
    ids = pc.unique(table.column("call_id")) if distinct is None else distinct
    return sorted(pc.filter(ids, pc.invert(pc.is_in(ids, value_set=allowed_ids))).to_pylist())
