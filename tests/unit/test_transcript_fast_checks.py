"""Column-wise checks give exactly the answers (and errors) of the per-item loops they shortcut.

``transcript._check_times`` decides the usual valid case with numpy and falls back to
its loop otherwise; ``pyai_result._check_within_audio`` and ``_speaker_keys`` take C-speed
paths for the usual columns. Each is compared here with the plain loop it replaced.
"""

from __future__ import annotations

import math
import random

import pytest

from callmine.providers import pyai_result
from callmine.transcript import TranscriptError, _check_times, channel_speaker, model_speaker


def _reference_check_times(kind: str, start: list, end: list, duration_s: float | None) -> None:
    """``_check_times`` as it was: one item at a time."""
    if len(start) != len(end):
        raise TranscriptError(f"{kind} start and end columns differ in length")
    limit = duration_s + 1.0 if duration_s else math.inf
    for i, (s, e) in enumerate(zip(start, end)):
        if s is None or e is None or not (math.isfinite(s) and math.isfinite(e)):
            raise TranscriptError(f"{kind} {i} has no valid time ({s!r}..{e!r})")
        if s < 0 or e < s:
            raise TranscriptError(f"{kind} {i} has impossible times {s}..{e}")
        if s > limit:
            raise TranscriptError(f"{kind} {i} starts at {s:.1f}s, after the recording's end ({duration_s:.1f}s)")


def _outcome(fn, *args):
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - the type and message are what is compared
        return type(exc).__name__, str(exc)
    return None


_ODD_VALUES = [None, math.nan, math.inf, -math.inf, -0.0, 0.0, -1.0, -1e-9, 0, 1, True, False, 2**53, 2**53 + 1,
               2**63, 2**70, 1e300, "1.5", [1.0], 5e-324]


def _random_times(rng: random.Random) -> tuple[list, list]:
    n = rng.randint(0, 12)
    start, end = [], []
    t = rng.uniform(0, 5)
    for _ in range(n):
        s = round(t, 3)
        e = round(t + rng.uniform(0, 2), 3)
        start.append(s)
        end.append(e)
        t += rng.uniform(-0.5, 2)
    if n and rng.random() < 0.6:  # spoil one or two items in some way
        for _ in range(rng.randint(1, 2)):
            i = rng.randrange(n)
            which = rng.random()
            if which < 0.4:
                start[i] = rng.choice(_ODD_VALUES)
            elif which < 0.8:
                end[i] = rng.choice(_ODD_VALUES)
            else:
                start[i], end[i] = end[i], start[i]
    if n and rng.random() < 0.2:  # ints where floats usually are
        start = [int(s) if isinstance(s, float) and math.isfinite(s) else s for s in start]
    return start, end


def test_check_times_raises_exactly_what_the_loop_raised() -> None:
    rng = random.Random(11)
    for _ in range(20_000):
        start, end = _random_times(rng)
        duration = rng.choice([None, 0, 0.0, 3.0, 10.0, 30.5, 1e9])
        assert _outcome(_check_times, "word", start, end, duration, True) == \
            _outcome(_reference_check_times, "word", start, end, duration), (start, end, duration)


def test_check_times_reports_the_first_bad_item() -> None:
    with pytest.raises(TranscriptError, match=r"word 2 has impossible times 3.0..2.0"):
        _check_times("word", [0.0, 1.0, 3.0, -1.0], [0.5, 1.5, 2.0, 2.0], None, True)
    with pytest.raises(TranscriptError, match=r"segment 1 has no valid time \(None..2.0\)"):
        _check_times("segment", [0.0, None], [0.5, 2.0], None, True)


def _reference_within_audio(kind: str, starts: list, audio_seconds: float | None) -> None:
    if audio_seconds is None or not math.isfinite(audio_seconds) or audio_seconds <= 0:
        return
    limit = audio_seconds + 1.0
    for i, start in enumerate(starts):
        if start > limit:
            raise TranscriptError(f"{kind} {i} starts at {start:.1f}s, after the end of the audio "
                                  f"({audio_seconds:.1f}s as the service measured it)")


def test_check_within_audio_raises_exactly_what_the_loop_raised() -> None:
    rng = random.Random(5)
    for _ in range(5_000):
        starts = [round(rng.uniform(0, 12), 3) for _ in range(rng.randint(0, 8))]
        if starts and rng.random() < 0.3:
            starts[rng.randrange(len(starts))] = rng.choice([math.nan, math.inf, -math.inf, 11, 2**60, 11.0000001])
        audio = rng.choice([None, math.nan, math.inf, -1.0, 0.0, 5.0, 10.0, 10])
        assert _outcome(pyai_result._check_within_audio, "word", starts, audio) == \
            _outcome(_reference_within_audio, "word", starts, audio), (starts, audio)


def _reference_speaker_keys(channels: list, labels: list) -> list:
    out = []
    for channel, label in zip(channels, labels):
        if channel is not None:
            out.append(channel_speaker(channel))
        else:
            out.append(None if label is None else model_speaker(label))
    return out


# Stereo, mono, mixed, empty, channels beyond the small-int fast path, many labels.
SPEAKER_COLUMNS = [
    ([0, 1, 0, 1], [None] * 4),
    ([None] * 4, ["speaker_0", "speaker_1", 0, "A"]),
    ([None] * 3, [None] * 3),
    ([], []),
    ([0, None, 1], [None, "B", None]),
    ([0, None, 1, None], ["x", 0, None, None]),
    ([None, 2], [None, None]),
    ([None, None], ["0", 0]),
    ([3000, 1], [None, None]),
    ([None] * 7, ["a", "b", "c", "d", "e", "f", "a"]),
]


@pytest.mark.parametrize(("channels", "labels"), SPEAKER_COLUMNS)
def test_speaker_keys_match_the_per_item_rule(channels: list, labels: list) -> None:
    assert pyai_result._speaker_keys(channels, labels) == _reference_speaker_keys(channels, labels)


@pytest.mark.parametrize(("channels", "labels"), SPEAKER_COLUMNS)
def test_speaker_codes_give_the_keys_of_speaker_keys(channels: list, labels: list) -> None:
    assert pyai_result._speaker_codes(channels, labels).tolist() == pyai_result._speaker_keys(channels, labels)
