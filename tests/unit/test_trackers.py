"""Keyword trackers: file validation, matching rules and hit timing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callmine.trackers import KeywordHit, TrackerSet, load_trackers
from callmine.transcript import Segments, Words

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "include" / "trackers" / "default.yaml"


def segments(*rows: tuple[str, float, str]) -> Segments:
    """Rows of (speaker, start, text); segments last ten seconds."""
    result = Segments()
    for speaker, start, text in rows:
        result.speaker.append(speaker)
        result.start.append(start)
        result.end.append(start + 10)
        result.text.append(text)
        result.channel.append(None)
    return result


def words(*rows: tuple[int, float, str]) -> Words:
    """Rows of (segment_idx, start, word)."""
    result = Words()
    for segment_idx, start, word in rows:
        result.start.append(start)
        result.end.append(start + 0.2)
        result.word.append(word)
        result.speaker.append("ch0")
        result.confidence.append(None)
        result.segment_idx.append(segment_idx)
    return result


def matched_terms(trackers: dict[str, list[str]], text: str) -> list[str]:
    hits = TrackerSet(trackers).find_hits(segments(("ch0", 0, text)), Words())
    return [hit.term for hit in hits]


# --- matching rules ---------------------------------------------------------


def test_tracker_matches_on_word_boundaries_only() -> None:
    assert matched_terms({"pricing": ["price"]}, "priceless caprice prices") == []


def test_tracker_matches_words_with_trailing_punctuation() -> None:
    text = "Pricing? pricing, (pricing) pricing."
    assert matched_terms({"pricing": ["pricing"]}, text) == ["pricing"] * 4


def test_tracker_matching_ignores_case() -> None:
    assert matched_terms({"refund": ["Refund"]}, "REFUND refund ReFuNd") == ["Refund"] * 3


def test_possessive_matches_the_term() -> None:
    assert matched_terms({"competitor": ["competitor"]}, "your competitor's offer") == [
        "competitor"
    ]


def test_phrase_term_matches_across_whitespace() -> None:
    text = "a price  increase and a price\nincrease"
    assert matched_terms({"pricing": ["price increase"]}, text) == ["price increase"] * 2


def test_phrase_term_matches_across_hyphens() -> None:
    assert matched_terms({"pricing": ["price increase"]}, "the price-increase") == [
        "price increase"
    ]


def test_hyphenated_term_matches_spaced_words() -> None:
    assert matched_terms({"contract": ["auto-renew"]}, "it will auto renew") == ["auto-renew"]


def test_phrase_term_does_not_match_across_sentence_punctuation() -> None:
    assert matched_terms({"pricing": ["price increase"]}, "the price, increase it") == []


def test_longest_term_wins_where_terms_start_together() -> None:
    trackers = {"pricing": ["price", "price increase"]}
    assert matched_terms(trackers, "a price increase") == ["price increase"]


def test_shorter_term_matches_when_longer_one_breaks_a_word_boundary() -> None:
    trackers = {"pricing": ["price", "price increase"]}
    assert matched_terms(trackers, "the price increased") == ["price"]


def test_each_occurrence_is_one_hit() -> None:
    assert matched_terms({"refund": ["refund"]}, "refund, refund and refund") == ["refund"] * 3


def test_term_in_two_trackers_hits_each_tracker() -> None:
    tracker_set = TrackerSet({"pricing": ["price match"], "discount": ["price match"]})
    hits = tracker_set.find_hits(segments(("ch0", 0, "can you price match?")), Words())
    assert sorted(hit.tracker for hit in hits) == ["discount", "pricing"]


# --- hits -------------------------------------------------------------------


def test_hit_names_tracker_term_as_written_and_segment_speaker() -> None:
    tracker_set = TrackerSet({"refund": ["Money Back"]})
    hits = tracker_set.find_hits(segments(("ch1", 3.0, "I want my money back")), Words())
    assert hits == [KeywordHit("refund", "Money Back", "ch1", 3.0, 0, None)]


def test_hit_start_is_the_matched_word_start() -> None:
    segs = segments(("ch0", 0, "Well, what's the pricing?"))
    timed = words((0, 0.1, "Well,"), (0, 0.6, "what's"), (0, 0.9, "the"), (0, 1.2, "pricing?"))
    [hit] = TrackerSet({"pricing": ["pricing"]}).find_hits(segs, timed)
    assert (hit.start_s, hit.word_idx) == (1.2, 3)


def test_phrase_hit_starts_at_its_first_word() -> None:
    segs = segments(("ch0", 0, "a price increase"))
    timed = words((0, 0.1, "a"), (0, 0.4, "price"), (0, 0.8, "increase"))
    [hit] = TrackerSet({"pricing": ["price increase"]}).find_hits(segs, timed)
    assert (hit.start_s, hit.word_idx) == (0.4, 1)


def test_word_idx_indexes_the_calls_word_list() -> None:
    segs = segments(("ch0", 0, "hello there"), ("ch1", 10, "any refund"))
    timed = words((0, 0.1, "hello"), (0, 0.5, "there"), (1, 10.2, "any"), (1, 10.6, "refund"))
    [hit] = TrackerSet({"refund": ["refund"]}).find_hits(segs, timed)
    assert (hit.segment_idx, hit.word_idx, hit.start_s) == (1, 3, 10.6)


def test_punctuation_only_tokens_are_not_counted_as_words() -> None:
    segs = segments(("ch0", 0, "okay - a refund"))
    timed = words((0, 0.1, "okay"), (0, 0.5, "a"), (0, 0.7, "refund"))
    [hit] = TrackerSet({"refund": ["refund"]}).find_hits(segs, timed)
    assert hit.word_idx == 2


def test_hit_start_falls_back_to_segment_start_when_words_do_not_align() -> None:
    segs = segments(("ch0", 5.0, "a full refund"))
    timed = words((0, 5.1, "a"), (0, 5.4, "refund"))  # provider dropped "full"
    [hit] = TrackerSet({"refund": ["refund"]}).find_hits(segs, timed)
    assert (hit.start_s, hit.word_idx) == (5.0, None)


def test_hit_start_falls_back_to_segment_start_without_words() -> None:
    [hit] = TrackerSet({"refund": ["refund"]}).find_hits(segments(("ch0", 7.0, "refund")), Words())
    assert (hit.start_s, hit.word_idx) == (7.0, None)


# --- tracker files ----------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trackers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_tracker_file_has_the_five_trackers() -> None:
    tracker_set = load_trackers(DEFAULT_FILE)
    assert set(tracker_set.trackers) == {"pricing", "competitor", "contract", "discount", "refund"}


def test_default_trackers_find_phrases_in_a_support_call() -> None:
    text = "After the price-increase I want my money back, or I'm switching providers."
    hits = load_trackers(DEFAULT_FILE).find_hits(segments(("ch1", 0, text)), Words())
    assert [(hit.tracker, hit.term) for hit in hits] == [
        ("pricing", "price increase"),
        ("refund", "money back"),
        ("competitor", "switching providers"),
    ]


def test_tracker_file_loads_terms_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, "trackers:\n  refund: [Refund, 'money back']\n")
    assert load_trackers(path).trackers == {"refund": ("Refund", "money back")}


def test_bad_tracker_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "- refund\n- price\n")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_trackers(path)


def test_unknown_top_level_key_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "tracker:\n  refund: [refund]\n")
    with pytest.raises(ValueError, match="'trackers'"):
        load_trackers(path)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "trackers: [unclosed\n")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_trackers(path)


def test_tracker_with_empty_terms_is_named_in_the_error(tmp_path: Path) -> None:
    path = write(tmp_path, "trackers:\n  refund: [refund]\n  pricing: []\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}: tracker 'pricing'")):
        load_trackers(path)


def test_tracker_terms_must_be_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, "trackers:\n  refund: refund\n")
    with pytest.raises(ValueError, match="tracker 'refund'"):
        load_trackers(path)


def test_non_string_term_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "trackers:\n  contract: [renewal, 401]\n")
    with pytest.raises(ValueError, match="tracker 'contract': term 401 is not a string"):
        load_trackers(path)


def test_term_without_letters_or_digits_is_rejected() -> None:
    with pytest.raises(ValueError, match="tracker 'pricing'"):
        TrackerSet({"pricing": ["price", " - "]})


def test_empty_tracker_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape(str(tmp_path))):
        load_trackers(write(tmp_path, ""))


def test_unicode_case_variant_still_names_its_term() -> None:
    # re.IGNORECASE matches the long s "ſ" to "s", but str.lower() keeps it.
    assert matched_terms({"refund": ["refunds"]}, "two refundſ please") == ["refunds"]
