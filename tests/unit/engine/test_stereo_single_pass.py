"""Single-pass channel mode: splicing both channels' speech and mapping words back."""

from __future__ import annotations

import numpy as np
import pytest

from include.engine.speech.audio import SAMPLE_RATE
from include.engine.speech.stereo import restore, splice
from include.engine.speech.transcriber import Word

SR = SAMPLE_RATE


def _w(start: float, end: float) -> Word:
    return Word(start=start, end=end, text="w", probability=0.9)


def _samples() -> np.ndarray:
    # Channel 0 holds 0.0, channel 1 holds 1.0: spliced values tell where each piece came from.
    return np.stack([np.zeros(10 * SR, np.float32), np.ones(10 * SR, np.float32)])


def test_splice_orders_chunks_and_records_offsets() -> None:
    ranges = [(0, 0, 2 * SR), (1, 1 * SR, 4 * SR), (0, 5 * SR, 6 * SR)]  # overlapping crosstalk
    track, chunks = splice(_samples(), ranges, gap_s=0.5)
    assert track.size == (2 + 3 + 1) * SR + 2 * SR // 2
    assert [(c.channel, c.offset) for c in chunks] == [(0, 0), (1, int(2.5 * SR)), (0, int(6.0 * SR))]
    assert track[int(2.5 * SR) : int(5.5 * SR)].min() == 1.0  # channel 1's piece
    assert track[int(2.0 * SR) : int(2.5 * SR)].max() == 0.0  # the gap


@pytest.mark.parametrize("gap", [0.0, 0.5])
def test_words_map_back_to_channel_and_original_time(gap: float) -> None:
    ranges = [(0, 0, 2 * SR), (1, 1 * SR, 4 * SR), (0, 5 * SR, 6 * SR)]
    _, chunks = splice(_samples(), ranges, gap_s=gap)
    second, third = 2.0 + gap, 5.0 + 2 * gap  # spliced offsets of chunks 2 and 3
    cases = [
        (_w(0.5, 0.9), 0, 0.5, 0.9),
        (_w(second + 0.2, second + 0.6), 1, 1.2, 1.6),  # channel 1 time = offset back + 1 s
        (_w(third + 0.1, third + 0.5), 0, 5.1, 5.5),
        # Straddles chunks 1|2; midpoint in chunk 2 -> channel 1, start clamped to its start.
        (_w(second - 0.1, second + 0.5), 1, 1.0, 1.5),
        # Runs past the end of the last chunk: clamped to 6.0.
        (_w(third + 0.8, third + 1.4), 0, 5.8, 6.0),
    ]
    for word, channel, start, end in cases:
        mapped = restore(word, chunks)
        assert mapped.party == channel
        assert (mapped.word.start, mapped.word.end) == pytest.approx((start, end))
        assert mapped.word.text == "w"


def test_midpoint_in_a_gap_goes_to_the_nearer_chunk() -> None:
    _, chunks = splice(_samples(), [(0, 0, 2 * SR), (1, 1 * SR, 4 * SR)], gap_s=1.0)
    near_first = restore(_w(2.0, 2.2), chunks)  # midpoint 2.1: 0.1 after chunk 1
    near_second = restore(_w(2.8, 3.0), chunks)  # midpoint 2.9: 0.1 before chunk 2
    assert (near_first.party, near_first.word.start, near_first.word.end) == (0, 2.0, 2.0)
    assert (near_second.party, near_second.word.start) == (1, 1.0)
