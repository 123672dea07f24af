"""Load throughput benchmark: PyAI result JSON bytes -> canonical transcript -> Parquet warehouse.

Usage::

    PYTHONPATH=plugins:. .venv/bin/python scripts/bench_load.py --calls 400
    PYTHONPATH=plugins:. .venv/bin/python scripts/bench_load.py --calls 400 --profile 25

Measures words/s normalized and written by the real callmine path, against a FLOOR
measured on the same data in the same process run (the machine may be shared and
noisy, so only same-run ratios are meaningful). Target (not asserted): >= 500k
words/s and callmine within 1.3x of the floor (issue 10).

- Data: a synthetic, seeded day of ``--calls`` calls x ``--words-per-call`` words, as
  PyAI Hear result documents serialized to JSON bytes (what arrives over HTTP).
  Half the calls are stereo (``channel`` 0/1), half mono (``speaker_0``/``speaker_1``);
  10-15 words per segment, alternating speakers, some overlaps, tracked keywords.
- FLOOR: ``json.loads`` every doc, build a words Arrow table column-wise (one list
  comprehension per column), concat, ``pq.write_table`` (zstd).
- CALLMINE: as the operator and the load task do it: the response bytes ->
  ``normalize_pyai_result`` (typed msgspec decode + normalize) -> ``BatchRows.add_completed`` (segments, words,
  speaker_metrics, keyword_hits, calls) per batch of ``--batch-size`` ->
  ``Warehouse.stage`` per batch -> ``Warehouse.staged_tables`` ->
  ``Warehouse.replace_calls`` into a fresh temporary warehouse. Not included: HTTP,
  subtitle files, the DuckDB catalog refresh of ``pipeline.load_day``.

Both run with Arrow's system allocator, as the stage and load tasks do
(``callmine.arrow_memory``: with mimalloc the merge alternates between two speeds).

Variants run interleaved (floor, callmine, floor, callmine...) ``--repeats`` times
after a small warm-up; best and median are printed, with per-stage wall seconds and
process CPU seconds (CPU is the steadier number when other processes compete for the
cores). ``roles.assign_roles``, ``metrics.compute_speaker_metrics``,
``sentiment.score_texts`` and ``TrackerSet.find_hits`` are timed inside
``add_completed`` by thin wrappers (a few microseconds per call). ``--profile`` adds
one cProfile run: use it to find callers, not to size gains, since cProfile inflates
functions called per segment or per word.
The benchmark prints numbers and never fails on time; it only checks that every word
reached the warehouse.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import gc
import io
import json
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from callmine.arrow_memory import use_system_allocator
import callmine.batch_rows as batch_rows_module
from callmine.batch_rows import BatchRows
from callmine.providers.pyai_result import normalize_pyai_result
from callmine.recordings import Batch, Recording, RunSettings, make_batches, make_call_id
from callmine.trackers import load_trackers
from callmine.warehouse import Warehouse
from tests.fake_pyai import phrase_bank
from tests.fake_pyai.phrase_bank import render

ROOT = Path(__file__).resolve().parents[1]
TRACKERS = ROOT / "include" / "trackers" / "default.yaml"
CALL_DATE = dt.date(2024, 3, 5)
TARGET_WORDS_PER_S = 500_000
TARGET_RATIO = 1.3
# Share of spoken lines drawn from the tracked-term lines (the rest is small talk):
# ~2 keyword hits per 100 words, ~1 segment in 5 with a hit.
KEYWORD_LINE_SHARE = 0.2

# Dialogue lines (the fake service's bank): many contain tracked terms, some are questions.
AGENT_LINES = tuple(render(line, numerals=False) for line in phrase_bank.AGENT_LINES)
CUSTOMER_LINES = tuple(render(line, numerals=False) for line in phrase_bank.CUSTOMER_LINES)
# Lines without tracked terms: most of a real call is not about pricing or contracts.
AGENT_SMALL_TALK = (
    "Okay, give me one moment while I pull that up for you.",
    "I can see the account here, it was opened in March.",
    "Thanks for waiting, I appreciate your patience.",
    "Right, so what I am going to do now is update the details on file.",
    "Could you spell the last name for me please?",
    "Perfect, that matches what we have in the system.",
    "I will send you a confirmation email once this is done.",
    "Is the phone number ending in two four still the best one to reach you?",
    "No problem at all, happy to help with that.",
    "Let me just make a note of that on the account.",
    "So the technician can come out on Tuesday morning between eight and twelve.",
    "Is there a good time for us to call you back?",
)
CUSTOMER_SMALL_TALK = (
    "Yes, that is right.",
    "Sorry, could you repeat that?",
    "It is Smith, S M I T H.",
    "Um, I think it was last Thursday, maybe Friday.",
    "Okay, great, thanks.",
    "The internet keeps dropping in the evenings, usually around seven.",
    "I tried restarting the router like the website said.",
    "Tuesday morning is fine, I work from home.",
    "Hang on, let me find the letter you sent me.",
    "My wife usually deals with this, but she is away this week.",
    "Right, okay, so what happens next?",
    "No, that was everything, thank you so much.",
)


# -- synthetic day -----------------------------------------------------------------


@dataclass(slots=True)
class Day:
    recordings: list[Recording]
    job_ids: dict[str, str]  # call_id -> provider job id
    docs: dict[str, bytes]  # call_id -> PyAI result JSON bytes
    words: int
    segments: int
    json_bytes: int


def _token_stream(rng: random.Random, keyword_lines: tuple[str, ...], small_talk: tuple[str, ...]) -> Iterator[str]:
    while True:
        lines = keyword_lines if rng.random() < KEYWORD_LINE_SHARE else small_talk
        yield from rng.choice(lines).split()


def make_doc(rng: random.Random, n_words: int, stereo: bool) -> dict[str, Any]:
    """One PyAI Hear result document with exactly ``n_words`` words."""
    streams = (
        _token_stream(rng, AGENT_LINES, AGENT_SMALL_TALK),
        _token_stream(rng, CUSTOMER_LINES, CUSTOMER_SMALL_TALK),
    )
    segments: list[dict[str, Any]] = []
    words: list[dict[str, Any]] = []
    t = round(rng.uniform(0.1, 0.6), 3)
    party = 0
    left = n_words
    while left > 0:
        count = min(left, rng.randint(10, 15))
        left -= count
        tokens = [next(streams[party]) for _ in range(count)]
        who: dict[str, Any] = {"channel": party} if stereo else {"speaker": f"speaker_{party}"}
        step = rng.uniform(0.25, 0.45)
        start, end = t, round(t + count * step, 3)
        segments.append({"start": start, "end": end, "text": " ".join(tokens), **who})
        for k, token in enumerate(tokens):
            w_start = start + k * step
            words.append({
                "start": round(w_start, 3), "end": round(w_start + step * 0.85, 3), "word": token,
                **who, "confidence": round(rng.uniform(0.80, 0.99), 3),
            })
        if rng.random() < 0.1:
            t = round(end - rng.uniform(0.4, 1.0), 3)  # the other party talks over the end
        else:
            t = round(end + rng.uniform(0.2, 1.5), 3)
        party = 1 - party
    return {
        "text": " ".join(s["text"] for s in segments),
        "language": "en-US",
        "speakers": 2,
        "audio_seconds": round(t + 1.0, 2),
        "segments": segments,
        "words": words,
    }


def make_day(calls: int, words_per_call: int, seed: int = 0) -> Day:
    """Deterministic: the same arguments always give the same bytes."""
    rng = random.Random(seed)
    recordings, job_ids, docs = [], {}, {}
    total_words = total_segments = total_bytes = 0
    for i in range(calls):
        stereo = i % 2 == 0
        doc = make_doc(rng, words_per_call, stereo)
        payload = json.dumps(doc).encode()
        uri = f"s3://recordings/{CALL_DATE:%Y/%m/%d}/call-{i:05d}.wav"
        rec = Recording(
            call_id=make_call_id(uri), source_uri=uri, call_date=CALL_DATE.isoformat(), format="wav",
            size_bytes=int(doc["audio_seconds"] * 16_000 * (2 if stereo else 1) * 2),
            modified_at=f"{CALL_DATE.isoformat()}T18:00:00+00:00",
            duration_s=doc["audio_seconds"], channels=2 if stereo else 1,
        )
        recordings.append(rec)
        job_ids[rec.call_id] = f"job-{i:06d}"
        docs[rec.call_id] = payload
        total_words += len(doc["words"])
        total_segments += len(doc["segments"])
        total_bytes += len(payload)
    return Day(recordings, job_ids, docs, total_words, total_segments, total_bytes)


# -- timing helpers ----------------------------------------------------------------


@dataclass
class Timings:
    """Wall and process-CPU seconds per stage (CPU is steadier on a shared machine)."""

    stages: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    total: float = 0.0
    total_cpu: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.stages[name] += time.perf_counter() - t0
            self.cpu[name] += time.process_time() - c0

    @contextlib.contextmanager
    def overall(self) -> Iterator[None]:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.total = time.perf_counter() - t0
            self.total_cpu = time.process_time() - c0


class _TimedTrackers:
    """Stands in for the TrackerSet inside BatchRows to time ``find_hits`` in the real path."""

    def __init__(self, trackers: Any, timings: Timings) -> None:
        self._trackers, self._timings = trackers, timings

    def find_hits(self, segments: Any, words: Any) -> Any:
        with self._timings.stage("  rows: trackers.find_hits"):
            return self._trackers.find_hits(segments, words)


@contextlib.contextmanager
def _timed_module_functions(timings: Timings) -> Iterator[None]:
    """Time ``assign_roles`` / ``compute_speaker_metrics`` / ``score_texts`` as batch_rows calls them."""
    originals = {
        name: getattr(batch_rows_module, name)
        for name in ("assign_roles", "compute_speaker_metrics", "score_texts")
    }

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        label = f"  rows: {fn.__module__.rsplit('.', 1)[-1]}.{name}"

        def timed(*args: Any, **kwargs: Any) -> Any:
            with timings.stage(label):
                return fn(*args, **kwargs)
        return timed

    try:
        for name, fn in originals.items():
            setattr(batch_rows_module, name, wrap(name, fn))
        yield
    finally:
        for name, fn in originals.items():
            setattr(batch_rows_module, name, fn)


CALLMINE_STAGES = (
    "setup (Batch, Warehouse, load_trackers)",
    "normalize_pyai_result (decode + normalize)",
    "rows: BatchRows.add_completed",
    "  rows: roles.assign_roles",
    "  rows: metrics.compute_speaker_metrics",
    "  rows: sentiment.score_texts",
    "  rows: trackers.find_hits",
    "rows: BatchRows.tables (concat)",
    "Warehouse.stage (conform + write)",
    "Warehouse.staged_tables (read)",
    "Warehouse.replace_calls (merge + write)",
    "Warehouse.clear_stage",
)


# -- the two variants --------------------------------------------------------------


def run_floor(day: Day, workdir: Path) -> Timings:
    """Plain JSON -> Arrow -> Parquet of the words, nothing else."""
    tm = Timings()
    with tm.overall():
        table = _floor(day, workdir, tm)
    tm.rows = {"words": table.num_rows}
    return tm


def _floor(day: Day, workdir: Path, tm: Timings) -> pa.Table:
    parts = []
    for rec in day.recordings:
        with tm.stage("json.loads"):
            doc = json.loads(day.docs[rec.call_id])
        with tm.stage("arrow build"):
            ws = doc["words"]
            parts.append(pa.table({
                "call_id": [rec.call_id] * len(ws),
                "start": pa.array([w["start"] for w in ws], pa.float64()),
                "end": pa.array([w["end"] for w in ws], pa.float64()),
                "word": [w["word"] for w in ws],
                "channel": pa.array([w.get("channel") for w in ws], pa.int32()),
                "speaker": pa.array([w.get("speaker") for w in ws], pa.string()),
                "confidence": pa.array([w["confidence"] for w in ws], pa.float64()),
            }))
    with tm.stage("arrow build"):
        table = pa.concat_tables(parts)
    with tm.stage("parquet write"):
        pq.write_table(table, workdir / "floor-words.parquet", compression="zstd")
    return table


def run_callmine(day: Day, workdir: Path, batch_size: int) -> Timings:
    """The operator's per-batch work, then the load task's merge, into a fresh warehouse."""
    tm = Timings()
    for name in CALLMINE_STAGES:  # report order: sub-stages under their parent
        tm.stages[name] = tm.cpu[name] = 0.0
    settings = RunSettings(
        call_date=CALL_DATE.isoformat(), run_id="manual__bench", source_uri="s3://recordings",
        warehouse_uri=str(workdir / "warehouse"), trackers=str(TRACKERS),
    )
    batches = [b.to_dict() for b in make_batches(day.recordings, settings, batch_size)]
    with tm.overall(), _timed_module_functions(tm):
        for batch_dict in batches:
            # StageBatchOperator.execute, minus HTTP and subtitles.
            with tm.stage("setup (Batch, Warehouse, load_trackers)"):
                batch = Batch.from_dict(batch_dict)
                warehouse = Warehouse(batch.settings.warehouse_uri)
                rows = BatchRows(batch.settings, _TimedTrackers(load_trackers(batch.settings.trackers), tm))
            for rec in batch.recordings:
                # The provider hands the raw response bytes to the normalizer, which
                # decodes them into typed structs (no json.loads dicts).
                with tm.stage("normalize_pyai_result (decode + normalize)"):
                    transcript = normalize_pyai_result(day.docs[rec.call_id], rec.diarization)
                with tm.stage("rows: BatchRows.add_completed"):
                    rows.add_completed(rec, day.job_ids[rec.call_id], transcript, transcript.audio_seconds, {})
            with tm.stage("rows: BatchRows.tables (concat)"):
                tables = rows.tables()
            with tm.stage("Warehouse.stage (conform + write)"):
                warehouse.stage(batch.settings.run_key, batch.batch_id.replace("/", "_"), tables)
        # pipeline.load_day, minus the DuckDB catalog refresh.
        warehouse = Warehouse(settings.warehouse_uri)
        with tm.stage("Warehouse.staged_tables (read)"):
            staged = warehouse.staged_tables(settings.run_key)
        with tm.stage("Warehouse.replace_calls (merge + write)"):
            result = warehouse.replace_calls(CALL_DATE, staged)
        with tm.stage("Warehouse.clear_stage"):
            warehouse.clear_stage(settings.run_key)
    tm.rows = dict(result.partition_rows)
    return tm


# -- reporting ---------------------------------------------------------------------


def _check(day: Day, floor: Timings, cm: Timings) -> None:
    """Correctness only (never timing): every word made it through both paths."""
    if floor.rows.get("words") != day.words or cm.rows.get("words") != day.words:
        raise RuntimeError(f"word count mismatch: generated {day.words}, floor {floor.rows}, callmine {cm.rows}")
    if cm.rows.get("calls") != len(day.recordings):
        raise RuntimeError(f"calls mismatch: {len(day.recordings)} generated, {cm.rows.get('calls')} loaded")


def _fmt_rate(words: int, seconds: float) -> str:
    return f"{words / seconds / 1000:8.0f}k words/s" if seconds > 0 else "n/a"


def _stage_table(title: str, runs: list[Timings], out: TextIO) -> None:
    names = list(dict.fromkeys(name for run in runs for name in run.stages))
    best_cpu = min(r.total_cpu for r in runs)
    heading = f"{title} stages, seconds, {len(runs)} run(s):"
    print(f"  {heading:<46} {'wall min':>8}  {'wall med':>8}  {'cpu min':>8}  {'cpu %':>6}", file=out)
    for name in names:
        wall = [r.stages.get(name, 0.0) for r in runs]
        cpu = min(r.cpu.get(name, 0.0) for r in runs)
        print(f"    {name:<44} {min(wall):8.3f}  {statistics.median(wall):8.3f}  {cpu:8.3f}  "
              f"{100 * cpu / best_cpu:5.1f}%", file=out)
    top_level = [n for n in names if not n.startswith("  ")]
    overhead = statistics.median(r.total - sum(r.stages[n] for n in top_level) for r in runs)
    print(f"    {'(loop overhead: total - stages, median wall)':<44} {'':8}  {overhead:8.3f}", file=out)


def report(day: Day, floors: list[Timings], cms: list[Timings], out: TextIO | None = None) -> dict[str, Any]:
    out = out or sys.stdout
    f_best, f_med = min(r.total for r in floors), statistics.median(r.total for r in floors)
    c_best, c_med = min(r.total for r in cms), statistics.median(r.total for r in cms)
    f_cpu, c_cpu = min(r.total_cpu for r in floors), min(r.total_cpu for r in cms)
    pair_ratios = [c.total / f.total for f, c in zip(floors, cms)]
    summary = {
        "calls": len(day.recordings), "words": day.words, "segments": day.segments, "json_bytes": day.json_bytes,
        "loaded_rows": cms[-1].rows,
        "floor_best_s": f_best, "floor_median_s": f_med, "callmine_best_s": c_best, "callmine_median_s": c_med,
        "floor_cpu_s": f_cpu, "callmine_cpu_s": c_cpu,
        "floor_words_per_s": day.words / f_best, "callmine_words_per_s": day.words / c_best,
        "ratio_best": c_best / f_best, "ratio_median_of_pairs": statistics.median(pair_ratios),
        "ratio_cpu": c_cpu / f_cpu if f_cpu else None,
        "callmine_stages_best_s": {n.strip(): min(r.stages[n] for r in cms) for n in cms[0].stages},
    }
    print(f"data: {len(day.recordings)} calls, {day.words:,} words, {day.segments:,} segments, "
          f"{day.json_bytes / 1e6:.1f} MB of JSON; loaded rows: "
          + ", ".join(f"{name} {n:,}" for name, n in cms[-1].rows.items() if n), file=out)
    print(f"floor    (json.loads + arrow + pq.write_table): best {f_best:7.3f} s  median {f_med:7.3f} s  "
          f"cpu {f_cpu:7.3f} s -> {_fmt_rate(day.words, f_best)} (median {_fmt_rate(day.words, f_med).strip()})",
          file=out)
    print(f"callmine (normalize + rows + stage + merge):     best {c_best:7.3f} s  median {c_med:7.3f} s  "
          f"cpu {c_cpu:7.3f} s -> {_fmt_rate(day.words, c_best)} (median {_fmt_rate(day.words, c_med).strip()})",
          file=out)
    cpu_ratio = f"{summary['ratio_cpu']:.2f}x" if summary["ratio_cpu"] else "n/a"
    print(f"ratio callmine_time / floor_time: best/best {summary['ratio_best']:.2f}x, "
          f"median of interleaved pairs {summary['ratio_median_of_pairs']:.2f}x "
          f"(pairs: {', '.join(f'{r:.2f}' for r in pair_ratios)}), cpu best/best {cpu_ratio}", file=out)
    words_ok = summary["callmine_words_per_s"] >= TARGET_WORDS_PER_S
    ratio_ok = summary["ratio_median_of_pairs"] <= TARGET_RATIO
    print(f"target: >= {TARGET_WORDS_PER_S // 1000}k words/s [{'met' if words_ok else 'NOT met'}], "
          f"within {TARGET_RATIO:g}x of floor [{'met' if ratio_ok else 'NOT met'}]", file=out)
    _stage_table("floor", floors, out)
    _stage_table("callmine", cms, out)
    print("  (indented 'rows:' lines are inside 'rows: BatchRows.add_completed')", file=out)
    return summary


def profile_callmine(day: Day, batch_size: int, top: int, out: TextIO | None = None) -> None:
    """One extra callmine run under cProfile (slower than the timed runs)."""
    out = out or sys.stdout
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory(prefix="callmine-bench-prof-") as tmp:
        profiler.enable()
        run_callmine(day, Path(tmp), batch_size)
        profiler.disable()
    for key in ("cumulative", "tottime"):
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats(key)
        stats.print_stats(top)
        print(f"\n==== cProfile of one callmine run, top {top} by {key} ====", file=out)
        print(buffer.getvalue().split("\n", 5)[-1].rstrip(), file=out)  # skip pstats' banner lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--words-per-call", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=50, help="calls per staged batch (operator batch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", type=int, default=0, metavar="TOP",
                        help="after the timed runs, cProfile one callmine run and print the TOP functions")
    parser.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.words_per_call < 1 or args.repeats < 1 or args.batch_size < 1:
        parser.error("--calls, --words-per-call, --repeats and --batch-size must be >= 1")

    # As the stage and load tasks do (callmine.arrow_memory); the floor runs in this
    # process too, so both variants use the same allocator.
    use_system_allocator()
    t0 = time.perf_counter()
    day = make_day(args.calls, args.words_per_call, args.seed)
    print(f"generated in {time.perf_counter() - t0:.1f} s; python {sys.version.split()[0]}, "
          f"pyarrow {pa.__version__} ({pa.default_memory_pool().backend_name} allocator); "
          f"batch size {args.batch_size}; {args.repeats} interleaved repeat(s)")

    # Warm-up on a few calls (lazy imports, first-call costs in Arrow), not reported.
    warm = Day(day.recordings[: min(4, args.calls)], day.job_ids, day.docs, 0, 0, 0)
    with tempfile.TemporaryDirectory(prefix="callmine-bench-warm-") as tmp:
        run_floor(warm, Path(tmp))
        run_callmine(warm, Path(tmp), args.batch_size)

    floors: list[Timings] = []
    cms: list[Timings] = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="callmine-bench-") as tmp:
            gc.collect()
            floors.append(run_floor(day, Path(tmp)))
            gc.collect()
            cms.append(run_callmine(day, Path(tmp), args.batch_size))
            _check(day, floors[-1], cms[-1])
    summary = report(day, floors, cms)
    if args.profile:
        profile_callmine(day, args.batch_size, args.profile)
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
