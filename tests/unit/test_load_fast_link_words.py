"""The column-wise word linking gives exactly what the plain per-word rule gives.

``normalize.link_words`` codes speakers as integers, links with one ``searchsorted``
and reorders only the stretches of a column that move; each is compared here with a
one-item-at-a-time reference on random overlapping stereo and mono calls.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from callmine.normalize import link_words, reorder_lists, sort_segments
from callmine.transcript import Segments, SpeakerCodes, Words


def _reference_link(segments: Segments, start: list, end: list, word: list, speaker: list,
                    confidence: list) -> Words:
    """Time order (stable), then each word's segment by the contract's rule, one word at a time."""
    order = sorted(range(len(start)), key=start.__getitem__)
    start, end, word, speaker, confidence = ([col[i] for i in order] for col in (start, end, word, speaker, confidence))
    if len(segments) == 0:
        return Words(start, end, word, [s or "speaker_0" for s in speaker], confidence, [0] * len(start))
    seg_speakers = set(segments.speaker)
    linked, keys = [], []
    for s, e, key in zip(start, end, speaker):
        mid = (s + e) / 2
        candidates = [j for j in range(len(segments)) if key in seg_speakers and segments.speaker[j] == key]
        candidates = candidates or list(range(len(segments)))  # no speaker, or one no segment has
        before = [j for j in candidates if segments.start[j] <= mid]
        idx = before[-1] if before else candidates[0]
        linked.append(idx)
        keys.append(key if key is not None else segments.speaker[idx])
    return Words(start, end, word, keys, confidence, linked)


def _random_call(rng: random.Random) -> tuple[Segments, list, list, list, list, list]:
    """Sorted segments of 1-3 speakers (overlapping, touching, equal starts) and shuffled-ish words."""
    prefix = rng.choice(["ch", "speaker_"])
    keys = [f"{prefix}{i}" for i in range(rng.randint(1, 3))]
    segments = Segments()
    t = rng.choice([0.0, 0.5, 2.0])
    for _ in range(rng.randint(0, 8)):
        length = rng.choice([0.0, 0.3, 1.0, 2.5])
        segments.start.append(t)
        segments.end.append(t + length)
        segments.text.append("x")
        segments.speaker.append(rng.choice(keys))
        segments.channel.append(None)
        t = round(t + rng.choice([0.0, -0.4, 0.2, 1.0]) + length * rng.random(), 3)
        t = max(t, segments.start[-1])  # segments arrive in time order (build_transcript sorts them)
    start, end, word, speaker = [], [], [], []
    for i in range(rng.randint(1, 40)):
        s = round(rng.uniform(0, t + 2), 2)  # some before the first segment, some after the last
        start.append(s)
        end.append(round(s + rng.choice([0.0, 0.1, 0.4, 3.0]), 2))
        word.append(f"w{i}")
        speaker.append(rng.choice([*keys, None, f"{prefix}9"]))  # None, and a key no segment has
    if rng.random() < 0.5:  # provider order nearly time order: swap a few neighbours
        pairs = sorted(zip(start, end, word, speaker))
        for _ in range(rng.randint(0, 3)):
            k = rng.randrange(len(pairs))
            pairs[k:k + 2] = pairs[k:k + 2][::-1]
        start, end, word, speaker = (list(col) for col in zip(*pairs))
    confidence = [rng.choice([None, 0.5, 0.9]) for _ in start]
    return segments, start, end, word, speaker, confidence


def _as_tuple(words: Words) -> tuple:
    return (words.start, words.end, words.word, words.speaker, words.confidence, words.segment_idx)


def test_link_words_matches_the_per_word_rule_on_random_calls() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        segments, start, end, word, speaker, confidence = _random_call(rng)
        expected = _reference_link(segments, start, end, word, speaker, confidence)
        got = link_words(segments, list(start), list(end), list(word), list(speaker), list(confidence))
        assert _as_tuple(got) == _as_tuple(expected), (segments, start, end, speaker)


def test_link_words_with_speaker_codes_and_in_place_lists_gives_the_same_words() -> None:
    rng = random.Random(8)
    for _ in range(1000):
        segments, start, end, word, speaker, confidence = _random_call(rng)
        expected = _reference_link(segments, start, end, word, speaker, confidence)
        times = (np.array(start, dtype=np.float64), np.array(end, dtype=np.float64))
        got = link_words(segments, list(start), list(end), list(word), SpeakerCodes.of(speaker), list(confidence),
                         times=times, in_place=True)
        assert _as_tuple(got) == _as_tuple(expected)


def test_in_place_linking_reorders_the_given_lists_themselves() -> None:
    segments = Segments([0.0], [5.0], ["a b"], ["ch0"], [0])
    start, word = [2.0, 1.0], ["b", "a"]
    words = link_words(segments, start, [2.5, 1.5], word, ["ch0", "ch0"], [None, None], in_place=True)
    assert words.start is start and start == [1.0, 2.0]
    assert words.word is word and word == ["a", "b"]


def test_linking_without_in_place_leaves_the_given_lists_alone() -> None:
    segments = Segments([0.0], [5.0], ["a b"], ["ch0"], [0])
    start = [2.0, 1.0]
    link_words(segments, start, [2.5, 1.5], ["b", "a"], ["ch0", "ch0"], [None, None])
    assert start == [2.0, 1.0]


def test_cached_word_columns_equal_the_lists_and_are_read_only() -> None:
    rng = random.Random(9)
    for _ in range(300):
        segments, start, end, word, speaker, confidence = _random_call(rng)
        if not len(segments):
            continue
        times = (np.array(start, dtype=np.float64), np.array(end, dtype=np.float64))
        words = link_words(segments, start, end, word, speaker, confidence, times=times)
        assert words.cached("start").tolist() == words.start
        assert words.cached("end").tolist() == words.end
        assert words.cached("segment_idx").tolist() == words.segment_idx
        assert words.cached("speaker_keys")[words.cached("speaker_code")].tolist() == words.speaker
        assert not words.cached("start").flags.writeable


def test_cached_column_is_dropped_when_the_list_changed_length() -> None:
    segments = Segments([0.0], [5.0], ["a"], ["ch0"], [0])
    words = link_words(segments, [1.0], [1.5], ["a"], ["ch0"], [None], times=(np.array([1.0]), np.array([1.5])))
    words.start.append(2.0)
    assert words.cached("start") is None


def test_caching_leaves_the_callers_arrays_writable() -> None:
    segments = Segments([0.0], [5.0], ["a b"], ["ch0"], [0])
    start, end, confidence = np.array([2.0, 1.0]), np.array([2.5, 1.5]), np.array([0.9, 0.8])
    words = link_words(segments, [2.0, 1.0], [2.5, 1.5], ["b", "a"], ["ch0", "ch0"], [0.9, 0.8],
                       times=(start, end), confidence_array=confidence)
    assert not words.cached("confidence").flags.writeable
    assert confidence.flags.writeable and start.flags.writeable and end.flags.writeable
    sorted_times = (np.array([0.0]), np.array([5.0]))
    sort_segments(segments, sorted_times)
    assert all(a.flags.writeable for a in sorted_times)


def test_cached_copies_can_be_dropped_and_cleared() -> None:
    segments = Segments([0.0], [5.0], ["a"], ["ch0"], [0])
    words = link_words(segments, [1.0], [1.5], ["a"], ["ch0"], [None], times=(np.array([1.0]), np.array([1.5])))
    words.drop_cached("start")
    words.drop_cached("no such column")
    assert words.cached("start") is None and words.cached("end") is not None
    words.clear_cached()
    assert words.cached("end") is None and words.cached("segment_idx") is None
    ordered = sort_segments(segments, (np.array([0.0]), np.array([5.0])))
    assert ordered.cached("start") is not None
    ordered.drop_cached("start")
    assert ordered.cached("start") is None and ordered.cached("end") is not None
    ordered.clear_cached()
    assert ordered.cached("end") is None


@pytest.mark.parametrize("in_place", [False, True])
def test_reorder_lists_equals_indexing_for_any_permutation(in_place: bool) -> None:
    rng = random.Random(3)
    for _ in range(2000):
        n = rng.randint(1, 60)
        order = list(range(n))
        kind = rng.random()
        if kind < 0.5:  # a few local moves, like overlapping turns
            for _ in range(rng.randint(0, 4)):
                a = rng.randrange(n)
                b = min(n, a + rng.randint(2, 6))
                order[a:b] = rng.sample(order[a:b], b - a)
        else:  # anything, including far moves across stretches
            rng.shuffle(order)
        column = [f"v{i}" for i in range(n)]
        reorder = reorder_lists(np.array(order), in_place)
        expected = [column[i] for i in order]
        assert (column if reorder is None else reorder(list(column))) == expected
