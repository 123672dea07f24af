"""Insights benchmark: the lexical analyzer's throughput, and the LLM step's wall time.

Usage::

    PYTHONPATH=plugins:. .venv/bin/python scripts/bench_insights.py
    PYTHONPATH=plugins:. .venv/bin/python scripts/bench_insights.py --calls 400 --llm-calls 200 --latency 2

1. **lexical**: the load benchmark's synthetic day (``scripts/bench_load.py``'s
   ``make_day``: PyAI result documents, half stereo, half mono) goes through the real
   path (``normalize_pyai_result`` -> ``BatchRows`` -> the staged segments and
   speaker_metrics -> ``call_texts``), then ``LexicalAnalyzer.analyze`` per call is
   timed: calls/s and words/s. VADER's per-segment scoring (``score_texts``, part of
   ``BatchRows``) is timed on its own.
2. **llm**: ``--llm-calls`` calls of the same day through the real
   ``LLMInsightsTrigger`` (staged JSON input, the openai client, bounded concurrency)
   against the fake OpenAI-compatible server answering after a fixed ``--latency``.
   Target: wall time within 1.5x of calls x latency / concurrency.

Prints numbers, never fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "plugins")]

from callmine.batch_rows import BatchRows  # noqa: E402
from callmine.insights.lexical import LexicalAnalyzer  # noqa: E402
from callmine.insights.model import CallText  # noqa: E402
from callmine.insights.sentiment import score_texts  # noqa: E402
from callmine.insights.tables import call_texts, call_to_json  # noqa: E402
from callmine.providers.pyai_result import normalize_pyai_result  # noqa: E402
from callmine.recordings import RunSettings  # noqa: E402
from callmine.trackers import load_trackers  # noqa: E402
from callmine.triggers.insights import LLMInsightsTrigger  # noqa: E402
from scripts.bench_load import CALL_DATE, make_day  # noqa: E402
from tests.fake_openai_chat import serve_fake  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def synthetic_calls(n_calls: int, words_per_call: int) -> tuple[list[CallText], int, list[str]]:
    """The load benchmark's day as analyzers see it; also every segment's text (for VADER)."""
    day = make_day(n_calls, words_per_call)
    settings = RunSettings(call_date=CALL_DATE.isoformat(), run_id="bench", source_uri="s3://x", warehouse_uri="/tmp")
    rows = BatchRows(settings, load_trackers(ROOT / "include" / "trackers" / "default.yaml"))
    for rec in day.recordings:
        transcript = normalize_pyai_result(json.loads(day.docs[rec.call_id]), rec.diarization)
        rows.add_completed(rec, day.job_ids[rec.call_id], transcript, rec.duration_s, {})
    tables = rows.tables()
    texts = tables["segments"].column("text").to_pylist()
    return call_texts(tables["segments"], tables["speaker_metrics"], tables["calls"]), day.words, texts


def bench_lexical(calls: list[CallText], words: int, texts: list[str], repeats: int) -> None:
    analyzer = LexicalAnalyzer()
    analyzer.analyze(calls[0])  # warm-up: lazy VADER lexicon load
    best = best_vader = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        results = [analyzer.analyze(c) for c in calls]
        best = min(best, time.perf_counter() - t0)
        t0 = time.perf_counter()
        score_texts(texts)
        best_vader = min(best_vader, time.perf_counter() - t0)
    errors = sum(1 for r in results if r.error)
    print(f"lexical analyzer: {len(calls)} calls, {words:,} words, best of {repeats}: {best:.2f} s "
          f"-> {len(calls) / best:,.0f} calls/s, {words / best:,.0f} words/s ({errors} errors)")
    print(f"per-segment VADER (score_texts): {len(texts):,} segments in {best_vader:.2f} s "
          f"-> {len(texts) / best_vader:,.0f} segments/s")


def bench_llm(calls: list[CallText], latency: float, concurrency: int) -> None:
    with serve_fake(latency_s=latency) as fake, tempfile.TemporaryDirectory() as tmp:
        os.environ["AIRFLOW_CONN_LLM_DEFAULT"] = json.dumps({
            "conn_type": "http", "host": fake.base_url, "password": fake.api_key,
            "extra": {"model": fake.default_model}})
        path = Path(tmp) / "input.json"
        path.write_text(json.dumps([call_to_json(c) for c in calls]))
        trigger = LLMInsightsTrigger(batch_id="bench/b000", input_uri=str(path), concurrency=concurrency)

        async def first_event() -> dict:
            async for event in trigger.run():
                return event.payload
            raise RuntimeError("no event")

        t0 = time.perf_counter()
        event = asyncio.run(first_event())
        wall = time.perf_counter() - t0
    ideal = len(calls) * latency / concurrency
    ok = sum(1 for r in event.get("results", []) if not r["error"])
    print(f"llm step: {len(calls)} calls, {latency:.1f} s answer latency, concurrency {concurrency}: "
          f"{wall:.1f} s wall, ideal {ideal:.1f} s -> {wall / ideal:.2f}x (target <= 1.5x); "
          f"{ok} analyzed, peak in flight {fake.max_in_flight}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400, help="calls of the synthetic day (lexical)")
    parser.add_argument("--words-per-call", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--llm-calls", type=int, default=200)
    parser.add_argument("--latency", type=float, default=2.0, help="the fake LLM's answer latency (s)")
    parser.add_argument("--concurrency", type=int, default=8, help="the trigger's requests in flight (default 8)")
    args = parser.parse_args()
    calls, words, texts = synthetic_calls(args.calls, args.words_per_call)
    bench_lexical(calls, words, texts, args.repeats)
    llm_calls = (calls * (args.llm_calls // len(calls) + 1))[: args.llm_calls]
    bench_llm(llm_calls, args.latency, args.concurrency)


if __name__ == "__main__":
    main()
