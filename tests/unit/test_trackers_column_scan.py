"""``TrackerSet.find_hits`` on ASCII text (regex tried only where a term can start, words located
column-wise) gives exactly the hits of the simple per-segment scan.

Random tracker files with overlapping phrases (shared first words, a phrase inside a longer
one, one-letter words, digits, "&", apostrophes, hyphenated terms) meet random calls whose
texts put terms next to punctuation runs, apostrophes, hyphens, underscores, digits, NUL and
control characters, several separators and line breaks, and whose words line up with the
text or not. Expected: ``_reference_hits`` (each segment scanned on its own with the
IGNORECASE regex, words grouped in a dict).
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from callmine import trackers as trackers_module
from callmine.trackers import KeywordHit, TrackerSet
from callmine.transcript import Segments, Words
from tests.unit.test_trackers_fast_scan import _reference_hits

_TERM_WORDS = ["price", "prices", "increase", "notice", "period", "per", "month", "how", "much", "a", "i", "x",
               "24", "t&cs", "competitor's", "auto", "renew", "renewal", "re", "the", "deal", "better", "cost",
               "cancel", "my", "order", "money", "back", "o", "_id", "2fa", "per-user"]
_TEXT_WORDS = _TERM_WORDS + ["Price", "PRICE", "priceless", "caprice", "competitor", "monthly", "don't", "it's",
                             "Smith", "a1", "ok", "--", "...", "(price)", "'how", "much'", "x-ray", "price_list",
                             "24/7", "T&Cs", "re-price", "back-to-back", "money-back", "how's"]
_SEPARATORS = [" ", " ", " ", "  ", "-", " - ", "\n", "\t", ", ", ". ", "? ", "\x00", "\x1c", "'", "...", " (", ") ",
               "--", "/", "&"]


def _random_trackers(rng: random.Random) -> TrackerSet:
    trackers: dict[str, list[str]] = {}
    for name in ("a", "b", "c")[: rng.randint(1, 3)]:
        terms = []
        for _ in range(rng.randint(1, 8)):
            words = [rng.choice(_TERM_WORDS) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
            terms.append(rng.choice((" ", "-", "  ")).join(words))
        trackers[name] = terms
    return TrackerSet(trackers)


def _random_text(rng: random.Random) -> str | None:
    if rng.random() < 0.03:
        return rng.choice([None, "", " ", "\x00", "-"])
    parts = [rng.choice(_TEXT_WORDS) + rng.choice(_SEPARATORS) for _ in range(rng.randint(1, 14))]
    text = "".join(parts)
    return text.strip() if rng.random() < 0.8 else text


def _random_call(rng: random.Random) -> tuple[Segments, Words]:
    segments, words = Segments(), Words()
    for seg in range(rng.randint(0, 10)):
        text = _random_text(rng)
        segments.start.append(float(seg))
        segments.end.append(seg + 0.9)
        segments.text.append(text)  # type: ignore[arg-type]
        segments.speaker.append(rng.choice(["ch0", "ch1"]))
        segments.channel.append(None)
        tokens = (text or "").split()
        if rng.random() < 0.2 and tokens:  # words that do not line up with the text
            tokens = tokens[:-1] if rng.random() < 0.5 else tokens + ["extra"]
        for k, token in enumerate(tokens):
            words.start.append(seg + 0.05 * k if rng.random() < 0.95 else None)  # type: ignore[arg-type]
            words.end.append(seg + 0.05 * k + 0.04)
            words.word.append(token)
            words.speaker.append(segments.speaker[-1])
            words.confidence.append(None)
            words.segment_idx.append(seg)
    if rng.random() < 0.3 and len(words):  # overlapping segments: words of two segments interleave
        order = sorted(range(len(words)), key=lambda i: (words.start[i] or 0) + rng.random())
        for column in ("start", "end", "word", "speaker", "confidence", "segment_idx"):
            values = getattr(words, column)
            setattr(words, column, [values[i] for i in order])
    return segments, words


def test_random_trackers_on_random_calls_give_the_per_segment_hits() -> None:
    rng = random.Random(21)
    for _ in range(400):
        trackers = _random_trackers(rng)
        for _ in range(10):
            segments, words = _random_call(rng)
            assert trackers.find_hits(segments, words) == _reference_hits(trackers, segments, words)


def test_the_column_scan_is_the_one_used_on_ascii_text(monkeypatch: pytest.MonkeyPatch) -> None:
    trackers = TrackerSet({"pricing": ["price", "how much"]})
    monkeypatch.setattr(TrackerSet, "_general_hits", lambda *args: pytest.fail("general path taken"))
    segments = Segments(start=[0.0], end=[1.0], text=["How much is the price?"], speaker=["ch0"], channel=[0])
    words = Words(start=[0.0, 0.1, 0.2, 0.3, 0.4], end=[0.1] * 5, word="How much is the price?".split(),
                  speaker=["ch0"] * 5, confidence=[None] * 5, segment_idx=[0] * 5)
    assert [(h.term, h.word_idx) for h in trackers.find_hits(segments, words)] == [("how much", 0), ("price", 4)]


@pytest.mark.parametrize("terms", [["#1 plan", "price"], ["price", "(x) plan"]], ids=["hash", "parenthesis"])
def test_terms_starting_without_a_word_character_give_the_per_segment_hits(terms: list[str]) -> None:
    trackers = TrackerSet({"t": terms})
    assert trackers._prefixes is None
    rng = random.Random(22)
    for _ in range(300):
        segments, words = _random_call(rng)
        segments.text = [f"#1 plan {t} (x)-plan" if t else t for t in segments.text]
        assert trackers.find_hits(segments, words) == _reference_hits(trackers, segments, words)


def test_segment_indices_that_are_not_ints_give_the_per_segment_hits() -> None:
    trackers = TrackerSet({"pricing": ["price"]})
    segments = Segments(start=[0.0, 1.0], end=[1.0, 2.0], text=["price", "a price"], speaker=["ch0"] * 2,
                        channel=[0] * 2)
    words = Words(start=[0.0, 1.0, 1.5], end=[0.5, 1.2, 1.9], word=["price", "a", "price"], speaker=["ch0"] * 3,
                  confidence=[None] * 3, segment_idx=[0, 1.0, 1.0])  # type: ignore[list-item]
    assert trackers.find_hits(segments, words) == _reference_hits(trackers, segments, words)


def test_recorded_segment_indices_are_used_as_the_list_says() -> None:
    """Words carrying build_transcript's numpy copy of segment_idx locate hits as the list does."""
    from callmine.transcript import Diarization, build_transcript

    trackers = TrackerSet({"pricing": ["price", "price increase"]})
    segments = Segments(start=[0.0, 2.0], end=[1.9, 4.0], text=["the price", "no price increase"],
                        speaker=["ch0", "ch1"], channel=[0, 1])
    tokens = [("the", 0.0), ("price", 0.5), ("no", 2.0), ("price", 2.5), ("increase", 3.0)]
    transcript = build_transcript(
        diarization=Diarization.CHANNEL, segments=segments, word_start=[t for _, t in tokens],
        word_end=[t + 0.4 for _, t in tokens], word_text=[w for w, _ in tokens],
        word_speaker=["ch0", "ch0", "ch1", "ch1", "ch1"], word_confidence=[None] * 5)
    got = trackers.find_hits(transcript.segments, transcript.words)
    assert got == _reference_hits(trackers, transcript.segments, transcript.words)
    assert [(h.term, h.word_idx, h.start_s) for h in got] == [("price", 1, 0.5), ("price increase", 3, 2.5)]


def test_hits_built_column_by_column_equal_hits_built_by_init() -> None:
    rows = [("pricing", "price", "ch0", 1.5, 3, 7), ("refund", "money back", "ch1", 2.0, 4, None)]
    hits = trackers_module._keyword_hits(rows)
    assert hits == [KeywordHit(*row) for row in rows]
    assert [hash(hit) for hit in hits] == [hash(KeywordHit(*row)) for row in rows]
    assert trackers_module._keyword_hits([]) == []



def test_keyword_hit_has_nothing_the_column_by_column_construction_would_skip() -> None:
    """``_keyword_hits`` makes hits with ``object.__new__`` and sets each slot from a 6-column row:
    no ``__post_init__`` may run, no default or factory may fill a field the row does not give,
    and no other state may exist. Change KeywordHit, and ``_keyword_hits`` must change too."""
    hit_fields = dataclasses.fields(KeywordHit)
    # The rows' columns, in __init__'s order: every field is given, so no default is used.
    assert [f.name for f in hit_fields] == ["tracker", "term", "speaker", "start_s", "segment_idx", "word_idx"]
    assert all(f.init and f.default_factory is dataclasses.MISSING for f in hit_fields)
    assert not hasattr(KeywordHit, "__post_init__")
    assert KeywordHit.__slots__ == tuple(f.name for f in hit_fields)  # no state beyond the fields
    assert KeywordHit.__dataclass_params__.frozen  # equality/hash as the dataclass defines them
    row = ("pricing", "price", "ch0", 1.5, 3, None)
    (hit,) = trackers_module._keyword_hits([row])
    assert not hasattr(hit, "__dict__") and not hasattr(KeywordHit(*row), "__dict__")
    assert all(getattr(hit, f.name) == getattr(KeywordHit(*row), f.name) for f in hit_fields)


def test_phrase_first_words_alone_are_not_tried_but_phrases_are_found() -> None:
    trackers = TrackerSet({"t": ["how much", "per month", "per user", "price"]})
    text = "how are you, per se; how much per-month, per\nuser, PER  USER price"
    segments = Segments(start=[0.0], end=[1.0], text=[text], speaker=["ch0"], channel=[0])
    assert [h.term for h in trackers.find_hits(segments, Words())] == [
        "how much", "per month", "per user", "per user", "price"]
