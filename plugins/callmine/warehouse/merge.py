"""Pure-Arrow merges: one day's calls replaced inside a month file sorted by call_date.

No per-row Python: a day holds ~1M words, so everything is an Arrow kernel
(``is_in`` filter, ``concat_tables``, ``sort_by``, vectorised neighbour compare).
Large tables arriving as per-call runs in key order skip ``sort_by`` (``sort_call_runs``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from callmine.warehouse.schema import PARTITION_COLUMN, SPECS


# Below this, sort_by is cheap (calls, speaker_metrics, keyword_hits: a few ms at most).
SMALL_TABLE_ROWS = 32_768
# Reordering runs pays only for long runs (words, segments: hundreds of rows per call);
# below this many rows per run on average, sort_by is cheaper than joining the slices.
MIN_RUN_ROWS = 16
# Runs averaging at least this many rows are joined as slices, shorter ones gathered by
# one take (a slice costs a few µs whatever its length; a take ~20 ns per row).
SLICE_RUN_ROWS = 512


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


def sort_call_runs(
    table: pa.Table,
    key: tuple[str, ...],
    min_rows: int = SMALL_TABLE_ROWS,
    min_run_rows: int = MIN_RUN_ROWS,
) -> pa.Table | None:
    """``table`` sorted by ``key`` by moving whole runs, or None if it needs a full sort.

    Rows arrive as one contiguous run per call (a batch builds a call's rows together,
    and the month's kept rows are sorted), each run already in key order; only the runs
    are out of order (call_ids are hashes). Then moving whole runs sorts the table, with
    vectorised neighbour compares instead of a sort and a gather of every row. Returned
    only if every key is strictly greater than the previous one, so the result equals
    ``sort_by(key)`` and has no duplicate key. Anything else (a call split over two
    runs, ties, nulls, NaN) returns None, and so does a table where it does not pay:
    a small one, or one whose runs average fewer than ``min_run_rows`` rows (one row
    per call: ``calls``, ``call_insights``; a few: ``speaker_metrics``), where finding
    and moving that many runs costs about what sorting does. Long runs are joined as
    zero-copy slices, shorter ones gathered with one ``take``.
    """
    rows = table.num_rows
    if rows < max(min_rows, 2) or (len(key) < 2 and min_run_rows > 1):
        return None  # a one-column key means one row per run
    run_column = table.column(key[0])
    if run_column.null_count:
        return None
    starts_run = pc.not_equal(run_column.slice(1), run_column.slice(0, rows - 1))  # row i+1 starts a run
    runs = pc.sum(starts_run).as_py() + 1
    if runs * max(min_run_rows, 1) > rows:
        return None
    if len(key) > 1:
        # Within a run, the rest of the key must increase strictly (lexicographically).
        in_order = pc.or_(starts_run, _strictly_increasing(table, key[1:]))
    else:
        in_order = starts_run  # the key is the run column alone: one row per run
    if not pc.all(pc.fill_null(in_order, False)).as_py():
        return None
    # The first row of each run, in one vectorised filter (chunk by chunk, no scalar reads).
    first_of_run = pa.chunked_array([pa.array([True]), *starts_run.chunks], pa.bool_())
    run_keys = pc.filter(run_column, first_of_run).combine_chunks()
    order = pc.sort_indices(run_keys)
    sorted_keys = run_keys.take(order)
    if runs > 1 and not pc.all(pc.less(sorted_keys.slice(0, runs - 1), sorted_keys.slice(1))).as_py():
        return None  # some call has two runs: they would have to interleave
    order_np = order.to_numpy()
    if (order_np == np.arange(runs)).all():
        return table
    starts = np.empty(runs + 1, np.int64)
    starts[0], starts[runs] = 0, rows
    starts[1:runs] = pc.indices_nonzero(starts_run).to_numpy() + 1
    lengths = np.diff(starts)[order_np]
    starts = starts[order_np]
    if runs * SLICE_RUN_ROWS <= rows:  # few long runs: join zero-copy slices
        return pa.concat_tables([table.slice(start, length)
                                 for start, length in zip(starts.tolist(), lengths.tolist())])
    # Many runs: one gather, row indices built run by run in numpy (each slice costs ~µs).
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return table.take(pa.array(np.arange(rows, dtype=np.int64) + shift))


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
