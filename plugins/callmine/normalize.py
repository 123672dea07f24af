"""Provider-neutral finishing of a transcript: time order, word -> segment links.

Providers map their own field names into columns; this module makes the columns
consistent: segments and words sorted by start, every word linked to the segment of
its speaker that contains its midpoint, words without a speaker inheriting the
segment's.
"""

from __future__ import annotations

from operator import itemgetter

import numpy as np

from callmine.transcript import Segments, Words


def sort_segments(segments: Segments) -> Segments:
    order = sorted(range(len(segments)), key=segments.start.__getitem__)
    if order == list(range(len(segments))):
        return segments
    return Segments(
        start=[segments.start[i] for i in order],
        end=[segments.end[i] for i in order],
        text=[segments.text[i] for i in order],
        speaker=[segments.speaker[i] for i in order],
        channel=[segments.channel[i] for i in order],
    )


def _segment_lookup(seg_start: np.ndarray, candidates: np.ndarray, midpoints: np.ndarray) -> np.ndarray:
    """For each midpoint, the candidate segment starting at or before it (the first if none)."""
    pos = np.searchsorted(seg_start[candidates], midpoints, side="right") - 1
    return candidates[np.clip(pos, 0, len(candidates) - 1)]


def link_words(
    segments: Segments,
    start: list[float],
    end: list[float],
    word: list[str],
    speaker: list[str | None],
    confidence: list[float | None],
) -> Words:
    """Words in time order, each with ``segment_idx`` and a speaker.

    Stereo calls overlap in time (both parties talk at once), so a word is matched
    only among its own speaker's segments when the provider told us its speaker.
    """
    n = len(start)
    if n == 0:
        return Words()
    starts = np.asarray(start, dtype=np.float64)
    order = np.argsort(starts, kind="stable")
    if not np.array_equal(order, np.arange(n)):
        # Overlapping turns make provider word order differ from time order in most calls.
        pick = itemgetter(*order.tolist())
        start, end, word, speaker, confidence = (
            list(pick(col)) if n > 1 else list(col) for col in (start, end, word, speaker, confidence)
        )
        starts = starts[order]
    if len(segments) == 0:
        return Words(start, end, word, [s or "speaker_0" for s in speaker], confidence, [0] * n)

    mid = (starts + np.asarray(end, dtype=np.float64)) / 2
    seg_start = np.asarray(segments.start, dtype=np.float64)
    seg_speaker = np.asarray(segments.speaker, dtype=object)
    word_speaker = np.asarray(speaker, dtype=object)
    seg_idx = np.empty(n, dtype=np.int64)
    unassigned = np.ones(n, dtype=bool)
    for key in dict.fromkeys(segments.speaker):
        mask = word_speaker == key
        if mask.any():
            own = np.flatnonzero(seg_speaker == key)
            seg_idx[mask] = _segment_lookup(seg_start, own, mid[mask])
            unassigned &= ~mask
    if unassigned.any():
        seg_idx[unassigned] = _segment_lookup(seg_start, np.arange(len(segments)), mid[unassigned])
    idx_list = seg_idx.tolist()
    if None in speaker:
        seg_speakers = segments.speaker
        speaker = [s if s is not None else seg_speakers[i] for s, i in zip(speaker, idx_list)]
    return Words(start, end, word, speaker, confidence, idx_list)
