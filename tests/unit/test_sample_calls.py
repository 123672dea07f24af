"""The sample calls shipped in include/samples/calls/ and their ground truth.

They are generated once by include/samples/make_calls.py (espeak-ng + sox) and
committed; these tests only read the shipped files, so they need neither tool.
"""

from __future__ import annotations

import json
import re
import wave
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from callmine.discovery import call_date_of

CALLS_DIR = Path(__file__).resolve().parents[2] / "include" / "samples" / "calls"
TRUTH_FILES = sorted(CALLS_DIR.glob("*.truth.json"))
TRACKED_KEYWORDS = {
    "pricing": r"pric(e|es|ing)",
    "competitor": r"competitors?",
    "contract": r"contracts?",
    "discount": r"discount(s|ed)?",
    "refund": r"refund(s|ed)?",
}
ROLES = {"agent", "customer"}


def load_truth(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def load_audio(truth: dict) -> tuple[np.ndarray, int, int]:
    """(samples as float, shape (frames, channels); sample rate; sample width in bytes)."""
    with wave.open(str(CALLS_DIR / truth["audio"]), "rb") as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return pcm.reshape(-1, channels).astype(np.float64), rate, width


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def sample_span(turn: dict, rate: int) -> tuple[int, int]:
    return round(turn["start"] * rate), round(turn["end"] * rate)


def noise_floor(samples: np.ndarray, truth: dict, rate: int) -> float:
    """RMS of the lead-in, before anybody speaks."""
    first = min(t["start"] for t in truth["turns"])
    return rms(samples[: round(first * rate)])


def _call_id(path: Path) -> str:
    return path.name.removesuffix(".truth.json")


@pytest.fixture(scope="module", params=TRUTH_FILES, ids=_call_id)
def call(request):
    truth = load_truth(request.param)
    samples, rate, width = load_audio(truth)
    return truth, samples, rate, width


@pytest.fixture(scope="module", params=[p for p in TRUTH_FILES if load_truth(p)["channels"] == 2], ids=_call_id)
def stereo_call(request):
    truth = load_truth(request.param)
    samples, rate, width = load_audio(truth)
    return truth, samples, rate, width


def test_four_sample_calls_ship_two_stereo_two_mono():
    truths = [load_truth(p) for p in TRUTH_FILES]
    assert len(truths) == 4, [p.name for p in TRUTH_FILES]
    assert sorted(t["channels"] for t in truths) == [1, 1, 2, 2]
    for path, truth in zip(TRUTH_FILES, truths):
        assert truth["audio"] == path.name.removesuffix(".truth.json") + ".wav"
        assert (CALLS_DIR / truth["audio"]).is_file()
    assert sorted(p.name for p in CALLS_DIR.glob("*.wav")) == sorted(t["audio"] for t in truths)


def test_sample_calls_stay_small():
    total = sum(p.stat().st_size for p in CALLS_DIR.iterdir() if p.is_file())
    assert total < 4.5 * 1024 * 1024


def test_call_date_comes_from_the_file_name(call):
    truth = call[0]
    found = call_date_of(truth["audio"], None)
    assert isinstance(found, date)
    assert found.isoformat() == truth["audio"][:10]


def test_wav_header_matches_truth(call):
    truth, samples, rate, width = call
    assert width == 2
    assert rate in (8000, 16000)
    assert truth.get("sample_rate", rate) == rate
    assert samples.shape[1] == truth["channels"]
    assert abs(samples.shape[0] / rate - truth["duration_s"]) <= 0.05
    assert 40 <= truth["duration_s"] <= 80


def test_speakers_match_the_layout(call):
    truth = call[0]
    if truth["channels"] == 2:
        assert truth["speakers"] == {"agent": "ch0", "customer": "ch1"}
        assert {(t["speaker"], t["channel"]) for t in truth["turns"]} == {("agent", 0), ("customer", 1)}
    else:
        assert set(truth["speakers"]) == ROLES
        assert all(re.fullmatch(r"speaker_\d+", label) for label in truth["speakers"].values())
        assert len(set(truth["speakers"].values())) == 2
        assert {t["speaker"] for t in truth["turns"]} == ROLES
        assert all(t["channel"] is None for t in truth["turns"])


def test_turns_are_in_time_order_inside_the_call(call):
    truth = call[0]
    turns = truth["turns"]
    assert len(turns) >= 6
    starts = [t["start"] for t in turns]
    assert starts == sorted(starts)
    for turn in turns:
        assert 0 <= turn["start"] < turn["end"] <= truth["duration_s"]
        assert turn["text"].strip()
    assert truth["text"] == " ".join(t["text"] for t in turns)


def test_pauses_between_turns_are_natural(call):
    turns = call[0]["turns"]
    speech_end = turns[0]["end"]
    for turn in turns[1:]:
        gap = turn["start"] - speech_end
        assert gap >= -1.0, "an interruption overlaps by about half a second, not more"
        if gap > 0:
            assert 0.3 - 1e-6 <= gap <= 1.2 + 1e-6, (turn["text"], gap)
        speech_end = max(speech_end, turn["end"])


def test_turn_boundaries_bound_the_speech(call):
    """Speech starts and ends at the turn boundaries; outside the turns there is only line noise."""
    truth, samples, rate, _ = call
    floor = noise_floor(samples, truth, rate)
    assert 0 < floor < 100, "faint line noise, well below speech"
    edge = round(0.005 * rate)
    for turn in truth["turns"]:
        a, b = sample_span(turn, rate)
        column = turn["channel"] or 0
        assert np.max(np.abs(samples[a : a + edge, column])) > 4 * floor, (turn["text"], "onset")
        assert np.max(np.abs(samples[b - edge : b, column])) > 4 * floor, (turn["text"], "offset")
    window = round(0.010 * rate)
    for column in range(samples.shape[1]):
        talking = np.zeros(samples.shape[0], dtype=bool)
        for turn in truth["turns"]:
            if truth["channels"] == 1 or turn["channel"] == column:
                a, b = sample_span(turn, rate)
                talking[a:b] = True
        quiet = samples[~talking, column]
        usable = quiet[: quiet.size // window * window].reshape(-1, window)
        window_rms = np.sqrt(np.mean(np.square(usable), axis=1))
        assert window_rms.max() < 2 * floor, f"speech outside the turns on channel {column}"


def test_stereo_turns_sit_on_their_channel(stereo_call):
    """Outside the overlaps, the named channel carries the turn at least 20 dB above the other."""
    truth, samples, rate, _ = stereo_call
    for turn in truth["turns"]:
        own = turn["channel"]
        other = 1 - own
        a, b = sample_span(turn, rate)
        alone = np.ones(b - a, dtype=bool)  # parts of the turn nobody else talks over
        for rival in truth["turns"]:
            if rival["speaker"] != turn["speaker"]:
                ra, rb = sample_span(rival, rate)
                alone[max(ra, a) - a : max(min(rb, b) - a, 0)] = False
        assert alone.mean() > 0.5
        segment = samples[a:b][alone]
        assert rms(segment[:, own]) > 10 * rms(segment[:, other]), turn["text"]


def test_every_tracked_keyword_is_spoken_in_some_call():
    texts = [load_truth(p)["text"] for p in TRUTH_FILES]
    for tracker, pattern in TRACKED_KEYWORDS.items():
        hits = [t for t in texts if re.search(rf"\b{pattern}\b", t, re.IGNORECASE)]
        assert hits, f"no sample call mentions {tracker}"


def test_calls_contain_questions():
    for path in TRUTH_FILES:
        turns = load_truth(path)["turns"]
        assert any(t["text"].rstrip().endswith("?") for t in turns), path.name


def test_some_call_has_an_interruption():
    """The customer starts about half a second before the agent finishes, on a stereo call at least."""
    overlaps = []
    for path in TRUTH_FILES:
        truth = load_truth(path)
        for before, after in zip(truth["turns"], truth["turns"][1:]):
            if after["speaker"] != before["speaker"] and after["start"] < before["end"]:
                overlaps.append((truth["channels"], round(before["end"] - after["start"], 6)))
    assert overlaps
    assert all(0.2 <= seconds <= 1.0 for _, seconds in overlaps), overlaps
    assert any(channels == 2 for channels, _ in overlaps), overlaps
