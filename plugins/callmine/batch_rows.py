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
from callmine.trackers import KeywordHit, TrackerSet
from callmine.transcript import Segments, Transcript, Words
from callmine.warehouse.schema import TABLES, file_schema


class BatchRows:
    """Accumulates a batch's rows; ``tables()`` returns one Arrow table per warehouse table."""

    def __init__(self, settings: RunSettings, trackers: TrackerSet | None, ingested_at: datetime | None = None) -> None:
        self.settings = settings
        self.trackers = trackers
        self.ingested_at = ingested_at or datetime.now(timezone.utc)
        self._parts: dict[str, list[pa.Table]] = {name: [] for name in TABLES}
        # Tables of a few rows per call are built once per batch (tables()), from these rows:
        # one Arrow conversion per call and table costs more than the rows themselves.
        self._rows: dict[str, list[dict[str, object]]] = {name: [] for name in _ROW_TABLES}
        self._segments = _SegmentRows()  # made into one table per batch in tables()
        self._hits: list[tuple[str, list[KeywordHit]]] = []  # per call with hits: (call_id, hits)
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
        self._segments.add(cid, seg, list(map(originals.get, seg.speaker)), sentiment, sentiment_score)
        # Numeric columns come from the transcript's validated numpy copies when it has them
        # (zero-copy into Arrow) rather than from a million Python floats (Words.cached).
        segment_idx = words.cached("segment_idx")
        self._parts["words"].append(pa.table({
            "call_id": pa.repeat(pa.scalar(cid), n_words),
            "word_idx": np.arange(n_words, dtype=np.int32),
            "segment_idx": (pa.array(words.segment_idx, pa.int32()) if segment_idx is None
                            else segment_idx.astype(np.int32)),
            "speaker": _speakers(words),
            "start_s": _floats(words.cached("start"), words.start),
            "end_s": _floats(words.cached("end"), words.end),
            "word": words.word,
            "confidence": _floats(words.cached("confidence"), words.confidence),
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
        if hits:  # made into columns in tables(): a dict per hit costs more than the hit
            self._hits.append((cid, hits))
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
        segments = self._segments.table()
        if segments is not None:
            self._parts["segments"].append(segments)
        out: dict[str, pa.Table] = {}
        for name, parts in self._parts.items():
            rows = self._rows.get(name)
            if rows:
                parts = [*parts, pa.Table.from_pylist(rows, schema=TABLES[name])]
            if name == "keyword_hits" and self._hits:
                parts = [*parts, self._hit_table()]
            if parts:
                out[name] = pa.concat_tables(parts, promote_options="default")
        return out

    def _hit_table(self) -> pa.Table:
        hits = [hit for _, call_hits in self._hits for hit in call_hits]
        return pa.Table.from_pydict({
            "call_id": [cid for cid, call_hits in self._hits for _ in call_hits],
            "tracker": [h.tracker for h in hits], "term": [h.term for h in hits],
            "speaker": [h.speaker for h in hits], "start_s": [h.start_s for h in hits],
            "segment_idx": [h.segment_idx for h in hits], "word_idx": [h.word_idx for h in hits],
        }, schema=TABLES["keyword_hits"])


class _SegmentRows:
    """A batch's segment rows, kept column-wise and made into one Arrow table by ``table``.

    A call has a few hundred segments: ten small Arrow conversions per call cost more
    than the rows, so each call extends the columns and the batch converts them once
    (the same table as one per call, concatenated).
    """

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.call_ids: list[str] = []
        self.counts: list[int] = []
        self.speaker: list[str] = []
        self.channel: list[pa.Array] = []  # converted per call: a bad channel fails its call, as before
        self.start: list[np.ndarray | list[float]] = []
        self.end: list[np.ndarray | list[float]] = []
        self.text: list[str] = []
        self.speaker_label: list[str | None] = []
        self.sentiment: list[str] = []
        self.sentiment_score: list[float] = []

    def add(self, call_id: str, seg: Segments, speaker_labels: list[str | None], sentiment: list[str],
            sentiment_score: list[float]) -> None:
        # Everything that can raise comes first: a call that fails leaves no rows behind.
        channel = pa.array(seg.channel, pa.int32())
        cached = seg.cached("start"), seg.cached("end")
        self.call_ids.append(call_id)
        self.counts.append(len(seg))
        self.speaker += seg.speaker
        self.channel.append(channel)
        self.start.append(seg.start if cached[0] is None else cached[0])
        self.end.append(seg.end if cached[1] is None else cached[1])
        self.text += seg.text
        self.speaker_label += speaker_labels
        self.sentiment += sentiment
        self.sentiment_score += sentiment_score

    def table(self) -> pa.Table | None:
        if not self.counts:
            return None
        counts = np.array(self.counts, dtype=np.int64)
        firsts = np.cumsum(counts) - counts
        try:
            table = pa.table({
                "call_id": pa.array(self.call_ids, pa.string()).take(np.repeat(np.arange(len(counts)), counts)),
                "segment_idx": (np.arange(len(self.speaker)) - np.repeat(firsts, counts)).astype(np.int32),
                "speaker": self.speaker,
                "channel": pa.concat_arrays(self.channel),
                "start_s": _float_column(self.start),
                "end_s": _float_column(self.end),
                "text": self.text,
                "speaker_label": self.speaker_label,
                "sentiment": self.sentiment,
                "sentiment_score": pa.array(self.sentiment_score, pa.float64()),
            })
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            self._raise_for_call(exc)  # only on failure: which call's value was bad
            raise
        self._clear()
        return table

    def _raise_for_call(self, exc: Exception) -> None:
        """Re-raise ``exc`` naming the first call whose segment values do not convert, if one does not."""
        firsts = np.cumsum(self.counts).tolist()
        columns = {"speaker": (self.speaker, pa.string()), "text": (self.text, pa.string()),
                   "speaker_label": (self.speaker_label, pa.string()), "sentiment": (self.sentiment, pa.string()),
                   "sentiment_score": (self.sentiment_score, pa.float64())}
        for i, (call_id, count) in enumerate(zip(self.call_ids, self.counts)):
            lo = firsts[i] - count
            pieces = {name: (values[lo:lo + count], kind) for name, (values, kind) in columns.items()}
            pieces["start_s"], pieces["end_s"] = (self.start[i], pa.float64()), (self.end[i], pa.float64())
            for name, (values, kind) in pieces.items():
                try:
                    pa.array(values, kind)
                except (pa.ArrowException, TypeError, ValueError, OverflowError) as bad:
                    message = f"segments of call {call_id}, column {name}: {bad}"
                    try:
                        named = type(exc)(message)
                    except Exception:  # an exception type that takes other arguments
                        named = ValueError(message)
                    raise named from exc


def _float_column(pieces: list[np.ndarray | list[float]]) -> pa.Array | np.ndarray:
    if all(isinstance(piece, np.ndarray) for piece in pieces):
        return np.concatenate(pieces)
    return pa.array([value for piece in pieces for value in piece], pa.float64())


def _floats(cached: np.ndarray | None, values: list[float | None]) -> pa.Array | np.ndarray:
    """A float64 column: the transcript's validated numpy copy when it has one, else from the list."""
    return pa.array(values, pa.float64()) if cached is None else cached


def _speakers(words: Words) -> pa.Array | list[str]:
    """The words' speaker column: a take from the few distinct keys when the codes are recorded."""
    codes, keys = words.cached("speaker_code"), words.cached("speaker_keys")
    if codes is None or keys is None:
        return words.speaker
    return pa.array(keys.tolist(), pa.string()).take(codes)


# Built from rows in tables(). ``calls`` keeps call_date: rows may belong to earlier days (lookback).
_ROW_TABLES = ("speaker_metrics", "calls")


def _date(text: str | None):
    from datetime import date

    return date.fromisoformat(text) if text else None
