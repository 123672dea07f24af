"""sort_call_runs: moving whole per-call runs must give exactly what sort_by gives, or decline."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from callmine.warehouse import DuplicateKeyError
from callmine.warehouse.merge import SLICE_RUN_ROWS, SMALL_TABLE_ROWS, merge_partition_table, sort_call_runs

KEY = ("call_id", "word_idx")


def runs(call_ids: list[str], rows_per_call: int = 4) -> pa.Table:
    """One contiguous run per call, in key order within the run."""
    return pa.table({
        "call_id": [cid for cid in call_ids for _ in range(rows_per_call)],
        "word_idx": pa.array([i for _ in call_ids for i in range(rows_per_call)], pa.int32()),
        "word": [f"{cid}:{i}" for cid in call_ids for i in range(rows_per_call)],
    })


def shuffled_ids(n: int, seed: int = 0) -> list[str]:
    ids = [f"call_{random.Random(seed + i).getrandbits(40):010x}" for i in range(n)]
    random.Random(seed).shuffle(ids)
    return ids


def test_runs_out_of_order_come_back_exactly_as_sort_by_orders_them():
    table = pa.concat_tables([runs(shuffled_ids(30)), runs(shuffled_ids(20, seed=100))])
    result = sort_call_runs(table, KEY, min_rows=0, min_run_rows=1)
    assert result is not None
    assert result.equals(table.sort_by([(c, "ascending") for c in KEY]))


def test_a_call_split_over_two_runs_needs_a_full_sort():
    table = pa.concat_tables([runs(["b", "a"]), runs(["c", "a"])])
    assert sort_call_runs(table, KEY, min_rows=0, min_run_rows=1) is None


def test_a_run_out_of_key_order_needs_a_full_sort():
    table = runs(["b", "a"])
    reversed_run = table.slice(0, 4).take([3, 2, 1, 0])
    assert sort_call_runs(pa.concat_tables([reversed_run, table.slice(4)]), KEY, min_rows=0, min_run_rows=1) is None


def test_a_duplicate_key_inside_a_run_needs_a_full_sort():
    table = runs(["b", "a"])
    assert sort_call_runs(pa.concat_tables([table, table.slice(7, 1)]), KEY, min_rows=0, min_run_rows=1) is None


def test_a_nan_in_the_key_needs_a_full_sort():
    table = pa.table({"call_id": ["a", "a", "b"], "start_s": [0.5, float("nan"), 1.0]})
    assert sort_call_runs(table, ("call_id", "start_s"), min_rows=0, min_run_rows=1) is None


def test_small_tables_are_left_to_sort_by():
    assert sort_call_runs(runs(["b", "a"]), KEY) is None


def sorted_by(table: pa.Table, key: tuple[str, ...]) -> pa.Table:
    return table.sort_by([(c, "ascending") for c in key])


def test_long_runs_joined_as_slices_equal_sort_by():
    table = runs(shuffled_ids(12), rows_per_call=SLICE_RUN_ROWS + 3)
    result = sort_call_runs(table, KEY, min_rows=0)
    assert result is not None
    assert result.equals(sorted_by(table, KEY))


def test_already_sorted_runs_come_back_as_they_are():
    table = runs(sorted(shuffled_ids(50)), rows_per_call=20)
    assert sort_call_runs(table, KEY, min_rows=0) is table


def test_short_runs_are_left_to_sort_by_unless_asked():
    table = pa.concat_tables([runs(shuffled_ids(3_000), rows_per_call=2),
                              runs(shuffled_ids(3_000, seed=50_000), rows_per_call=2)])
    assert sort_call_runs(table, KEY, min_rows=0) is None  # 2 rows per run: sort_by is cheaper
    result = sort_call_runs(table, KEY, min_rows=0, min_run_rows=1)
    assert result is not None
    assert result.equals(sorted_by(table, KEY))


def one_row_per_call(call_ids: list[str], chunk: int = 25) -> pa.Table:
    """Like ``calls``/``call_insights``: key ("call_id",), batches of ``chunk`` calls."""
    return pa.concat_tables([
        pa.table({"call_id": call_ids[i:i + chunk], "n": pa.array(range(i, i + len(call_ids[i:i + chunk])))})
        for i in range(0, len(call_ids), chunk)
    ])


def test_one_row_per_call_gives_sort_bys_result():
    table = one_row_per_call(shuffled_ids(SMALL_TABLE_ROWS + 1_000))
    expected = sorted_by(table, ("call_id",))
    assert sort_call_runs(table, ("call_id",)) is None  # left to sort_by: one run per row
    forced = sort_call_runs(table, ("call_id",), min_run_rows=1)
    assert forced is not None and forced.equals(expected)
    merged = merge_partition_table("call_insights", None, table, table.column("call_id"))
    assert merged.table.equals(expected.combine_chunks())


def test_merge_still_refuses_duplicate_keys_in_a_large_table():
    words = runs(shuffled_ids(2_000), rows_per_call=20)  # 40k rows: above the small-table threshold
    with pytest.raises(DuplicateKeyError):
        merge_partition_table("words", None, pa.concat_tables([words, words.slice(5, 1)]),
                              words.column("call_id").unique())


def test_merge_of_runs_keeps_the_other_calls_and_sorts_by_key():
    existing = runs(sorted(shuffled_ids(1_200)), rows_per_call=20)
    incoming = runs(shuffled_ids(800, seed=100_000), rows_per_call=20)  # other calls than the existing ones
    assert sort_call_runs(pa.concat_tables([existing, incoming]), KEY) is not None  # the runs path
    replaced = incoming.column("call_id").unique()
    merged = merge_partition_table("words", existing, incoming, replaced)
    expected = pa.concat_tables([existing, incoming]).sort_by([(c, "ascending") for c in KEY])
    assert merged.table.equals(expected)
    assert (merged.kept, merged.added) == (existing.num_rows, incoming.num_rows)
