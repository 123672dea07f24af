"""Provider-neutral finishing of a transcript: time order, word -> segment links.

Providers map their own field names into columns; this module makes the columns
consistent: segments and words sorted by start, every word linked to the segment of
its speaker that contains its midpoint, words without a speaker inheriting the
segment's.

A call is thousands of words and a day millions, so everything per word is numpy or a
C-level list operation: speakers are integer codes (``SpeakerCodes``), the link is one
``searchsorted``, and reordering rewrites only the items of a column that move.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TypeVar

import numpy as np

from callmine.transcript import Segments, SpeakerCodes, Words, object_array, record_arrays

T = TypeVar("T")


def sort_segments(segments: Segments, times: tuple[np.ndarray, np.ndarray] | None = None) -> Segments:
    """Segments in start order (stable). ``times``: validated float64 start/end, kept as the cache."""
    if times is None:
        order = sorted(range(len(segments)), key=segments.start.__getitem__)
        reorder = None if order == list(range(len(segments))) else _picker(order)
    else:
        # Same order as sorted() by start: both are stable and the floats are exact copies.
        order_array = np.argsort(times[0], kind="stable")
        reorder = reorder_lists(order_array)
        if reorder is not None:
            times = (times[0][order_array], times[1][order_array])
    ordered = segments if reorder is None else Segments(
        *(reorder(col) for col in (segments.start, segments.end, segments.text, segments.speaker, segments.channel))
    )
    ordered.clear_cached()
    if times is not None:
        record_arrays(ordered, start=times[0], end=times[1])
    return ordered


def _picker(order: list[int]) -> Callable[[Sequence[T]], list[T]]:
    if len(order) == 1:
        return list
    pick = itemgetter(*order)
    return lambda col: list(pick(col))


def reorder_lists(order: np.ndarray, in_place: bool = False) -> Callable[[list[T]], list[T]] | None:
    """A function putting a column in ``order`` (``[col[i] for i in order]``), or None for the identity.

    Provider order is time order except around overlapping turns, so usually a few dozen
    items move: only those are rewritten, in the column itself when ``in_place`` (the
    caller's temporary lists), else in one C-level copy of it.
    """
    n = len(order)
    moved = np.flatnonzero(order != np.arange(n))
    if len(moved) == 0:
        return None
    if len(moved) * 4 > n:  # much moves: one itemgetter pass over the whole column
        picker = _picker(order.tolist())
        if not in_place:
            return picker

        def reorder_all(col: list[T]) -> list[T]:
            col[:] = picker(col)
            return col

        return reorder_all
    positions = moved.tolist()
    pick = itemgetter(*order[moved].tolist())  # a permutation moves at least two items: a tuple

    def reorder(col: list[T]) -> list[T]:
        items = pick(col)  # every moved item read before any is written
        out = col if in_place else list(col)
        for position, item in zip(positions, items):
            out[position] = item
        return out

    return reorder


def _link_table(seg_group: np.ndarray, groups: int) -> np.ndarray:
    """``table[g, k]``: the segment of a word of group ``g`` when ``k`` segments start at or before its midpoint.

    The segment is the last of group ``g`` among those ``k`` (segments are in start order,
    so the ``k`` starting at or before a midpoint are exactly the first ``k``), or the
    group's first segment when there is none. Groups ``0..groups-1`` are speakers; group
    ``groups`` is every segment (words without a speaker, or one no segment has).
    """
    n_seg = len(seg_group)
    index = np.arange(n_seg)
    member = seg_group == np.arange(groups)[:, None]  # groups x segments
    last = np.empty((groups + 1, n_seg + 1), dtype=np.int64)
    last[:, 0] = -1
    np.maximum.accumulate(np.where(member, index, -1), axis=1, out=last[:groups, 1:])
    last[groups, 1:] = index
    first = np.append(member.argmax(axis=1), 0)
    return np.where(last < 0, first[:, None], last)


def _link(seg_start: np.ndarray, seg_group: np.ndarray, groups: int, word_group: np.ndarray,
          mid: np.ndarray) -> np.ndarray:
    """Segment index per word (see ``_link_table``), for words of ``word_group`` with midpoints ``mid``."""
    table = _link_table(seg_group, groups)
    before = np.searchsorted(seg_start, mid, side="right")
    return table.ravel()[word_group * table.shape[1] + before]


def link_words(
    segments: Segments,
    start: list[float],
    end: list[float],
    word: list[str],
    speaker: list[str | None] | SpeakerCodes,
    confidence: list[float | None],
    *,
    times: tuple[np.ndarray, np.ndarray] | None = None,
    confidence_array: np.ndarray | None = None,
    in_place: bool = False,
) -> Words:
    """Words in time order, each with ``segment_idx`` and a speaker.

    Stereo calls overlap in time (both parties talk at once), so a word is matched
    only among its own speaker's segments when the provider told us its speaker.
    ``times``: ``start`` / ``end`` as float64 arrays already validated exact
    (``build_transcript``); they are kept as the words' cached copies, as is
    ``confidence_array`` (float64, equal to ``confidence``). ``in_place``: the
    lists are the caller's temporaries and may be reordered in place (no copies).
    """
    if in_place and len({id(start), id(end), id(word), id(confidence)}) < 4:
        in_place = False  # one list given for two columns: reordering it twice would scramble it
    n = len(start)
    if n == 0:
        return Words()
    codes = speaker if isinstance(speaker, SpeakerCodes) else SpeakerCodes.of(speaker)
    exact = times is not None
    starts, ends = times if times is not None else (np.asarray(start, dtype=np.float64), None)
    word_code = codes.codes
    order = np.argsort(starts, kind="stable")
    reorder = reorder_lists(order, in_place)
    if reorder is not None:
        # Overlapping turns make provider word order differ from time order in most calls.
        start, end, word, confidence = (reorder(col) for col in (start, end, word, confidence))
        starts, word_code = starts[order], word_code[order]
        ends = None if ends is None else ends[order]
        confidence_array = None if confidence_array is None else confidence_array[order]
    if len(segments) == 0:
        keys = object_array([key or "speaker_0" for key in codes.keys])
        return Words(start, end, word, keys[word_code].tolist(), confidence, [0] * n)

    if ends is None:
        ends = np.asarray(end, dtype=np.float64)
    seg_keys = list(dict.fromkeys(segments.speaker))
    seg_code_of = {key: i for i, key in enumerate(seg_keys)}
    seg_group = np.fromiter(map(seg_code_of.__getitem__, segments.speaker), np.int64, len(segments))
    # Keys of the output: the segments' speakers, then word keys no segment has.
    table = seg_keys + [key for key in dict.fromkeys(codes.keys) if key is not None and key not in seg_code_of]
    table_code = {key: i for i, key in enumerate(table)}
    groups = len(seg_keys)
    group_of_key = np.array([seg_code_of.get(key, groups) for key in codes.keys], dtype=np.int64)
    final_of_key = np.array([-1 if key is None else table_code[key] for key in codes.keys], dtype=np.int64)

    seg_start = segments.cached("start")
    if seg_start is None:
        seg_start = np.asarray(segments.start, dtype=np.float64)
    seg_idx = _link(seg_start, seg_group, groups, group_of_key[word_code], (starts + ends) / 2)
    speaker_code = final_of_key[word_code]
    if None in codes.keys:  # words without a speaker take their segment's
        unknown = speaker_code < 0
        speaker_code[unknown] = seg_group[seg_idx[unknown]]
    keys = object_array(table)
    words = Words(start, end, word, keys[speaker_code].tolist(), confidence, seg_idx.tolist())
    record_arrays(words, segment_idx=seg_idx, speaker_code=speaker_code, speaker_keys=keys)
    if exact:
        record_arrays(words, start=starts, end=ends)
    if confidence_array is not None:
        record_arrays(words, confidence=confidence_array)
    return words
