"""scripts/bench_load.py runs end to end at a tiny size (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_load.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_load", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_synthetic_day_is_deterministic_and_shaped_like_pyai(bench):
    day = bench.make_day(calls=2, words_per_call=40, seed=3)
    again = bench.make_day(calls=2, words_per_call=40, seed=3)
    assert day.docs == again.docs
    assert day.words == 80
    stereo, mono = (json.loads(day.docs[r.call_id]) for r in day.recordings)
    assert {w["channel"] for w in stereo["words"]} == {0, 1}
    assert {s["speaker"] for s in mono["segments"]} == {"speaker_0", "speaker_1"}
    assert all(10 <= len(s["text"].split()) <= 15 for s in stereo["segments"][:-1])


def test_benchmark_runs_and_reports(bench, capsys):
    summary = bench.main(["--calls", "3", "--words-per-call", "60", "--repeats", "1", "--batch-size", "2"])
    out = capsys.readouterr().out
    assert summary["words"] == 180
    assert summary["loaded_rows"]["words"] == 180 and summary["loaded_rows"]["calls"] == 3
    for text in ("floor", "callmine", "words/s", "ratio", "Warehouse.replace_calls"):
        assert text in out
