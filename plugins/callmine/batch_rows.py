"""Turn one batch's outcomes (transcripts or failures) into warehouse rows, column-wise."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

from callmine.insights.sentiment import score_texts
from callmine.insights.model import CallInsights
from callmine.metrics import compute_speaker_metrics, untimed_speaker_metrics
from callmine.recordings import Recording, RunSettings
from callmine.roles import assign_roles
from callmine.trackers import TrackerSet
from callmine.transcript import Transcript
from callmine.warehouse.schema import TABLES, file_schema


class BatchRows:
    """Accumulates per-call tables; ``tables()`` returns one Arrow table per warehouse table."""

    def __init__(self, settings: RunSettings, trackers: TrackerSet | None, ingested_at: datetime | None = None) -> None:
        self.settings = settings
        self.trackers = trackers
        self.ingested_at = ingested_at or datetime.now(timezone.utc)
        self._parts: dict[str, list[pa.Table]] = {name: [] for name in TABLES}
        # Tables of a few rows per call are built once per batch (tables()), from these rows:
        # one Arrow conversion per call and table costs more than the rows themselves.
        self._rows: dict[str, list[dict[str, object]]] = {name: [] for name in _ROW_TABLES}
        self._sentiment_cache: dict[str, float] = {}  # segment text -> VADER compound, for this batch
        self.completed = 0
        self.failed = 0

    def _call_row(self, rec: Recording, **values: object) -> dict[str, object]:
        return {
            "call_id": rec.call_id,
            "source_uri": rec.source_uri,
            "call_date": _date(rec.call_date),  # lookback: an earlier day's recording loads into its own day
            "duration_s": rec.duration_s,
            "channels": rec.channels,
            "provider": self.settings.provider,
            "ingested_at": self.ingested_at,
            "run_id": self.settings.run_id,
            "format": rec.format,
            "size_bytes": rec.size_bytes,
            **values,
        }

    def add_failed(self, rec: Recording, error: str, job_id: str | None = None, *, retryable: bool = False) -> None:
        """A failed call with its reason; ``retryable``: a later run should try it again."""
        self.failed += 1
        self._rows["calls"].append(
            self._call_row(
                rec, provider_job_id=job_id, diarization=rec.diarization.value if rec.channels else None,
                status="failed", error=error, retryable=retryable,
            )
        )

    def add_completed(
        self, rec: Recording, job_id: str, transcript: Transcript, billed_s: float | None,
        subtitle_uris: dict[str, str], *, provider_insights: CallInsights | None = None,
        speaker_talk_s: dict[str, float] | None = None, provider_model: str | None = None,
        roles: dict[str, str | None] | None = None,
    ) -> None:
        seg, words = transcript.segments, transcript.words
        if len(seg) == 0 or len(words) == 0:
            # The contract: a completed call always has segments, words and metrics.
            self.add_failed(rec, "no speech recognized in the recording", job_id)
            return
        self.completed += 1
        cid = rec.call_id
        n_seg, n_words = len(seg), len(words)
        originals = transcript.original_speakers
        sentiment, sentiment_score = score_texts(seg.text, self._sentiment_cache)
        self._parts["segments"].append(pa.table({
            "call_id": pa.repeat(pa.scalar(cid), n_seg),
            "segment_idx": np.arange(n_seg, dtype=np.int32),
            "speaker": seg.speaker,
            "channel": pa.array(seg.channel, pa.int32()),
            "start_s": pa.array(seg.start, pa.float64()),
            "end_s": pa.array(seg.end, pa.float64()),
            "text": seg.text,
            "speaker_label": list(map(originals.get, seg.speaker)),
            "sentiment": sentiment,
            "sentiment_score": pa.array(sentiment_score, pa.float64()),
        }))
        self._parts["words"].append(pa.table({
            "call_id": pa.repeat(pa.scalar(cid), n_words),
            "word_idx": np.arange(n_words, dtype=np.int32),
            "segment_idx": pa.array(words.segment_idx, pa.int32()),
            "speaker": words.speaker,
            "start_s": pa.array(words.start, pa.float64()),
            "end_s": pa.array(words.end, pa.float64()),
            "word": words.word,
            "confidence": pa.array(words.confidence, pa.float64()),
        }))
        timed = seg.start[0] is not None
        if roles is None:  # a source that knows who is who (Omni) passes its roles
            roles = assign_roles(seg, f"ch{self.settings.agent_channel}")  # segments are in call order, timed or not
        metrics = (compute_speaker_metrics(seg, words, roles) if timed
                   else untimed_speaker_metrics(seg, words, roles, speaker_talk_s))
        self._rows["speaker_metrics"].extend(
            {"call_id": cid, **{f: getattr(m, f) for f in m.__slots__}} for m in metrics
        )
        hits = self.trackers.find_hits(seg, words) if timed and self.trackers is not None else []
        self._rows["keyword_hits"].extend(
            {"call_id": cid, "tracker": h.tracker, "term": h.term, "speaker": h.speaker,
             "start_s": h.start_s, "segment_idx": h.segment_idx, "word_idx": h.word_idx} for h in hits
        )
        self._rows["calls"].append(self._call_row(
            rec, provider_job_id=job_id, diarization=transcript.diarization.value, status="completed",
            error=None, retryable=None, speakers=len(metrics), audio_seconds_billed=billed_s,
            srt_uri=subtitle_uris.get("srt"), vtt_uri=subtitle_uris.get("vtt"),
        ))
        if provider_insights is not None:  # the service analyzed the call itself (CallMissed)
            from callmine.insights.model import InsightsResult
            from callmine.insights.tables import insights_rows
            from callmine.pipeline import PROVIDER_PROMPT_VERSION

            self._parts["call_insights"].append(insights_rows([InsightsResult(
                call_id=cid, analyzer=self.settings.provider, model=provider_model or self.settings.provider,
                prompt_version=PROVIDER_PROMPT_VERSION, transcript_hash="", insights=provider_insights)]))

    def tables(self) -> dict[str, pa.Table]:
        out: dict[str, pa.Table] = {}
        for name, parts in self._parts.items():
            rows = self._rows.get(name)
            if rows:
                parts = [*parts, pa.Table.from_pylist(rows, schema=TABLES[name])]
            if parts:
                out[name] = pa.concat_tables(parts, promote_options="default")
        return out


# Built from rows in tables(). ``calls`` keeps call_date: rows may belong to earlier days (lookback).
_ROW_TABLES = ("speaker_metrics", "keyword_hits", "calls")


def _date(text: str | None):
    from datetime import date

    return date.fromisoformat(text) if text else None
