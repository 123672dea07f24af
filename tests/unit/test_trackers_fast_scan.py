"""``TrackerSet.find_hits`` scans a call in one pass; the hits are exactly the per-segment scan's.

The one-pass scan (segment texts joined by NUL, lowercased when ASCII, matched without
IGNORECASE) and the numpy word grouping are compared with the per-segment IGNORECASE
scan they replaced, on the benchmark's dialogue and on random texts built to be awkward:
mixed case, hyphens and line breaks inside phrases, punctuation next to terms, empty and
None texts, NUL and other control characters, non-ASCII letters that fold onto ASCII ones
under IGNORECASE (Kelvin sign, long s, dotted I), and non-ASCII terms.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import pytest

from callmine.trackers import KeywordHit, TrackerSet, _word_locator, load_trackers
from callmine.transcript import Segments, Words
from tests.fake_pyai import phrase_bank

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "include" / "trackers" / "default.yaml"


def _reference_hits(trackers: TrackerSet, segments: Segments, words: Words) -> list[KeywordHit]:
    """``find_hits`` as it was: each segment scanned on its own, words grouped in a dict."""
    hits: list[KeywordHit] = []
    words_by_segment = None
    for seg in range(len(segments)):
        locate = None
        for match in trackers._pattern.finditer(segments.text[seg] or ""):
            if locate is None:
                if words_by_segment is None:
                    words_by_segment = defaultdict(list)
                    for word_idx, s in enumerate(words.segment_idx):
                        words_by_segment[s].append(word_idx)
                locate = _word_locator(segments.text[seg], words_by_segment.get(seg, []), words)
            word_idx = locate(match.start())
            start_s = segments.start[seg] if word_idx is None else words.start[word_idx]
            if start_s is None:
                start_s = segments.start[seg]
            for tracker, term in trackers._targets_of(match.group()):
                hits.append(KeywordHit(tracker, term, segments.speaker[seg], start_s, seg, word_idx))
    return hits


_VOCAB = [
    "price", "Price", "PRICE", "prices", "pricing", "priceless", "caprice", "increase", "quote", "cost", "fee",
    "fees", "monthly", "per", "month", "user", "how", "much", "competitor", "competitor's", "competitors",
    "other", "vendor", "another", "provider", "contract", "renew", "auto", "renewal", "T&Cs", "t&cs", "terms",
    "and", "conditions", "of", "service", "notice", "period", "cancel", "refund", "money", "back", "discount",
    "the", "a", "I", "we", "okay", "yes", "no", "thanks", "budget", "afford", "expensive", "better", "deal",
    "pri\u017fe", "\u212aelvin", "\u0130nce", "caf\u00e9", "na\u00efve", "\u00fcber", "pr\u00edce",
]
_SEPARATORS = [" ", " ", " ", " ", "  ", "-", " - ", "\n", "\t", ", ", ". ", "? ", "\u2010", "\u2011", "\x00",
               "\x1c", "_", "'", "\u00a0"]


def _random_text(rng: random.Random) -> str | None:
    if rng.random() < 0.03:
        return rng.choice([None, "", " ", "\x00", "-"])
    parts = []
    for _ in range(rng.randint(1, 14)):
        word = rng.choice(_VOCAB)
        if rng.random() < 0.1:
            word = word.upper()
        parts.append(word + rng.choice(_SEPARATORS))
    return "".join(parts).strip() if rng.random() < 0.8 else "".join(parts)


def _random_call(rng: random.Random) -> tuple[Segments, Words]:
    segments, words = Segments(), Words()
    t = 0.0
    for seg in range(rng.randint(0, 12)):
        text = _random_text(rng)
        segments.start.append(t)
        segments.end.append(t + 3)
        segments.text.append(text)  # type: ignore[arg-type]
        segments.speaker.append(rng.choice(["ch0", "ch1"]))
        segments.channel.append(None)
        tokens = (text or "").split()
        if rng.random() < 0.2 and tokens:  # words that do not line up with the text
            tokens = tokens[:-1]
        for k, token in enumerate(tokens):
            words.start.append(t + 0.2 * k if rng.random() < 0.95 else None)  # type: ignore[arg-type]
            words.end.append(t + 0.2 * k + 0.1)
            words.word.append(token)
            words.speaker.append(segments.speaker[-1])
            words.confidence.append(None)
            words.segment_idx.append(seg)
        t += rng.uniform(0.5, 3)
    # Words in time order, as link_words leaves them, interleaving overlapping segments.
    order = sorted(range(len(words.start)), key=lambda i: (words.end[i] - 0.1, i))
    for column in ("start", "end", "word", "speaker", "confidence", "segment_idx"):
        values = getattr(words, column)
        setattr(words, column, [values[i] for i in order])
    return segments, words


@pytest.mark.parametrize("trackers", [
    load_trackers(DEFAULT_FILE),
    TrackerSet({"pricing": ["price", "price increase", "how much", "T&Cs"], "odd": ["pri\u017fe", "caf\u00e9"]}),
    TrackerSet({"kelvin": ["kelvin"], "i": ["ince", "\u0131nce"], "s": ["price"]}),
], ids=["default", "non-ascii-terms", "folding"])
def test_one_pass_scan_finds_exactly_the_per_segment_hits(trackers: TrackerSet) -> None:
    rng = random.Random(3)
    for _ in range(3_000):
        segments, words = _random_call(rng)
        assert trackers.find_hits(segments, words) == _reference_hits(trackers, segments, words)


def test_the_benchmark_dialogue_gives_the_same_hits() -> None:
    trackers = load_trackers(DEFAULT_FILE)
    lines = [phrase_bank.render(line, numerals) for line in phrase_bank.AGENT_LINES + phrase_bank.CUSTOMER_LINES
             for numerals in (False, True)]
    segments, words = Segments(), Words()
    for seg, line in enumerate(lines):
        segments.start.append(float(seg))
        segments.end.append(seg + 0.9)
        segments.text.append(line)
        segments.speaker.append("ch0")
        segments.channel.append(0)
        for k, token in enumerate(line.split()):
            words.start.append(seg + 0.05 * k)
            words.end.append(seg + 0.05 * k + 0.04)
            words.word.append(token)
            words.speaker.append("ch0")
            words.confidence.append(0.9)
            words.segment_idx.append(seg)
    hits = trackers.find_hits(segments, words)
    assert len(hits) > 20
    assert hits == _reference_hits(trackers, segments, words)


def test_ascii_scan_is_used_only_when_every_term_is_ascii() -> None:
    assert load_trackers(DEFAULT_FILE)._ascii_pattern is not None
    assert TrackerSet({"x": ["caf\u00e9"]})._ascii_pattern is None


@pytest.mark.parametrize("segment_idx", [
    [], [0], [0, 0, 1, 0, 2, 1], [3, 1, 2, 1, 3, 0], [-1, 0, -1], [0, 1.5, 1, 1.5], [True, 1, 0, False],
    [2**70, 0, 2**70],
])
def test_words_are_grouped_by_segment_as_a_dict_would(segment_idx: list) -> None:
    from callmine.trackers import _words_by_segment

    reference: dict = defaultdict(list)
    for word_idx, seg in enumerate(segment_idx):
        reference[seg].append(word_idx)
    words = Words(segment_idx=segment_idx)
    of_segment = _words_by_segment(words)
    for seg in {*segment_idx, -2, 0, 1, 4, 1.5}:
        assert of_segment(seg) == reference.get(seg, []), seg
