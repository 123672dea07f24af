"""Synthetic, schema-valid days of calls: test fixtures and the load benchmark.

Vectorised with numpy so that a ~1M-word day builds in well under a second and the
benchmark measures the warehouse, not the generator.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from callmine.warehouse.schema import TABLES


_WORDS = np.array(["hello", "thanks", "for", "calling", "cancel", "refund", "my", "account", "please", "ok?"])


def make_day(
    call_date: dt.date,
    n_calls: int = 3,
    segments_per_call: int = 4,
    words_per_segment: int = 5,
    prefix: str = "call",
    failed: int = 0,
    seed: int = 0,
    insights: bool = False,
) -> dict[str, pa.Table]:
    """A day of two-speaker calls; the last ``failed`` calls are failed (no children).

    ``insights``: also a ``call_insights`` row per completed call (summary, action items,
    sentiment, phases), as the lexical analyzer would leave.
    """
    rng = np.random.default_rng(seed)
    ids = np.array([f"{prefix}-{call_date:%Y%m%d}-{i:05d}" for i in range(n_calls)])
    ok = n_calls - failed
    seg_call = np.repeat(ids[:ok], segments_per_call)
    seg_idx = np.tile(np.arange(segments_per_call, dtype=np.int32), ok)
    seg_start = seg_idx * 4.0
    seg_speaker = np.where(seg_idx % 2 == 0, "ch0", "ch1")
    n_words = len(seg_call) * words_per_segment
    word_seg = np.repeat(seg_idx, words_per_segment)
    word_idx = np.tile(np.arange(segments_per_call * words_per_segment, dtype=np.int32), ok)
    word_start = np.repeat(seg_start, words_per_segment) + np.tile(np.arange(words_per_segment) * 0.7, len(seg_call))
    words = _WORDS[rng.integers(0, len(_WORDS), n_words)]
    status = np.array(["completed"] * ok + ["failed"] * failed)
    talk = float(segments_per_call // 2 * 3.5)

    tables = {
        "segments": pa.table({
            "call_id": seg_call, "segment_idx": seg_idx, "speaker": seg_speaker,
            "channel": np.where(seg_idx % 2 == 0, 0, 1).astype(np.int32),
            "start_s": seg_start, "end_s": seg_start + 3.5,
            "text": np.full(len(seg_call), "hello thanks for calling"),
        }),
        "words": pa.table({
            "call_id": np.repeat(seg_call, words_per_segment), "word_idx": word_idx,
            "segment_idx": word_seg, "speaker": np.repeat(seg_speaker, words_per_segment),
            "start_s": word_start, "end_s": word_start + 0.5, "word": words,
            "confidence": rng.uniform(0.6, 1.0, n_words),
        }),
        "speaker_metrics": pa.table({
            "call_id": np.repeat(ids[:ok], 2), "speaker": np.tile(["ch0", "ch1"], ok),
            "role": np.tile(["agent", "customer"], ok), "talk_s": np.full(2 * ok, talk),
            "talk_ratio": np.full(2 * ok, 0.5), "word_count": np.full(2 * ok, n_words // max(2 * ok, 1), np.int32),
            "words_per_minute": np.full(2 * ok, 150.0), "turns": np.full(2 * ok, segments_per_call // 2, np.int32),
            "longest_monologue_s": np.full(2 * ok, 3.5), "questions": np.ones(2 * ok, np.int32),
            "interruptions": np.zeros(2 * ok, np.int32), "patience_s": np.full(2 * ok, 0.5),
        }),
        "keyword_hits": pa.table({
            "call_id": ids[:ok], "tracker": np.full(ok, "churn"), "term": np.full(ok, "cancel"),
            "speaker": np.full(ok, "ch1"), "start_s": np.full(ok, 4.0),
            "segment_idx": np.ones(ok, np.int32), "word_idx": np.full(ok, words_per_segment, np.int32),
        }),
        "calls": pa.table({
            "call_id": ids, "source_uri": np.char.add("file:///calls/", ids),
            "call_date": pa.array([call_date] * n_calls, pa.date32()),
            "duration_s": np.full(n_calls, segments_per_call * 4.0), "channels": np.full(n_calls, 2, np.int32),
            "provider": np.full(n_calls, "fake"), "provider_job_id": np.char.add("job-", ids),
            "diarization": np.full(n_calls, "channel"), "status": status,
            "error": pa.array([None] * ok + ["provider timeout"] * failed, pa.string()),
            "speakers": np.where(status == "completed", 2, 0).astype(np.int32),
            "ingested_at": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * n_calls),
            "run_id": np.full(n_calls, "test-run"), "format": np.full(n_calls, "wav"),
            "size_bytes": np.full(n_calls, 1_000_000, np.int64),
        }),
    }
    if insights:
        sentiment = np.array(["positive", "neutral", "negative"])[rng.integers(0, 3, ok)]
        half = segments_per_call * 2.0
        tables["call_insights"] = pa.table({
            "call_id": ids[:ok], "call_date": pa.array([call_date] * ok, pa.date32()),
            "model": np.full(ok, "callmine-lexical-1"),
            "summary": np.char.add("Customer asked about a refund on call ", ids[:ok]),
            "action_items": pa.array([["send the refund form", "call back tomorrow"]] * ok, pa.list_(pa.string())),
            "sentiment": sentiment,
            "phases": pa.array([[{"name": "Greeting", "start_s": 0.0, "end_s": half, "summary": None},
                                 {"name": "Resolution", "start_s": half, "end_s": 2 * half, "summary": None}]] * ok,
                               TABLES["call_insights"].field("phases").type),
            "generated_at": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * ok),
            "analyzer": np.full(ok, "lexical"),
            "sentiment_score": rng.uniform(-1, 1, ok),
            "escalation_risk": np.full(ok, "low"),
        })
    return tables
