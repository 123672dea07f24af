"""sort_call_runs: moving whole per-call runs must give exactly what sort_by gives, or decline."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from callmine.warehouse import DuplicateKeyError
from callmine.warehouse.merge import merge_partition_table, sort_call_runs

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
    result = sort_call_runs(table, KEY, min_rows=0)
    assert result is not None
    assert result.equals(table.sort_by([(c, "ascending") for c in KEY]))


def test_a_call_split_over_two_runs_needs_a_full_sort():
    table = pa.concat_tables([runs(["b", "a"]), runs(["c", "a"])])
    assert sort_call_runs(table, KEY, min_rows=0) is None


def test_a_run_out_of_key_order_needs_a_full_sort():
    table = runs(["b", "a"])
    reversed_run = table.slice(0, 4).take([3, 2, 1, 0])
    assert sort_call_runs(pa.concat_tables([reversed_run, table.slice(4)]), KEY, min_rows=0) is None


def test_a_duplicate_key_inside_a_run_needs_a_full_sort():
    table = runs(["b", "a"])
    assert sort_call_runs(pa.concat_tables([table, table.slice(7, 1)]), KEY, min_rows=0) is None


def test_a_nan_in_the_key_needs_a_full_sort():
    table = pa.table({"call_id": ["a", "a", "b"], "start_s": [0.5, float("nan"), 1.0]})
    assert sort_call_runs(table, ("call_id", "start_s"), min_rows=0) is None


def test_small_tables_are_left_to_sort_by():
    assert sort_call_runs(runs(["b", "a"]), KEY) is None


def test_merge_still_refuses_duplicate_keys_in_a_large_table():
    words = runs(shuffled_ids(10_000))  # 40k rows: above the small-table threshold
    with pytest.raises(DuplicateKeyError):
        merge_partition_table("words", None, pa.concat_tables([words, words.slice(5, 1)]),
                              words.column("call_id").unique())


def test_merge_of_runs_keeps_the_other_calls_and_sorts_by_key():
    existing = runs(sorted(shuffled_ids(6_000)))
    incoming = runs(shuffled_ids(4_000, seed=100_000))  # other calls than the existing ones
    replaced = incoming.column("call_id").unique()
    merged = merge_partition_table("words", existing, incoming, replaced)
    expected = pa.concat_tables([existing, incoming]).sort_by([(c, "ascending") for c in KEY])
    assert merged.table.equals(expected)
    assert (merged.kept, merged.added) == (existing.num_rows, incoming.num_rows)
