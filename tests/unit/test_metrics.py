"""Per-speaker metrics: each test pins one clause of the metrics contract."""

from __future__ import annotations

import pytest

from callmine.metrics import SpeakerMetrics, compute_speaker_metrics, count_questions
from callmine.transcript import Segments, Words


def segments(*rows: tuple[str, float, float, str]) -> Segments:
    """Rows of (speaker, start, end, text), in the order given."""
    result = Segments()
    for speaker, start, end, text in rows:
        result.speaker.append(speaker)
        result.start.append(start)
        result.end.append(end)
        result.text.append(text)
        result.channel.append(None)
    return result


def words_for(*speakers: str) -> Words:
    """One word per listed speaker; only speaker attribution matters here."""
    result = Words()
    for i, speaker in enumerate(speakers):
        result.start.append(float(i))
        result.end.append(i + 0.5)
        result.word.append("word")
        result.speaker.append(speaker)
        result.confidence.append(None)
        result.segment_idx.append(0)
    return result


def metrics(segs: Segments, words: Words | None = None, roles=None) -> dict[str, SpeakerMetrics]:
    rows = compute_speaker_metrics(segs, words or Words(), roles or {})
    return {row.speaker: row for row in rows}


# --- rows -------------------------------------------------------------------


def test_one_row_per_speaker_ordered_by_speaker_key() -> None:
    segs = segments(("ch1", 0, 1, ""), ("ch0", 1, 2, ""), ("ch1", 2, 3, ""))
    rows = compute_speaker_metrics(segs, Words(), {})
    assert [row.speaker for row in rows] == ["ch0", "ch1"]


def test_no_segments_gives_no_rows() -> None:
    assert compute_speaker_metrics(Segments(), words_for("ch0"), {}) == []


def test_role_comes_from_roles_mapping_and_defaults_to_none() -> None:
    segs = segments(("ch0", 0, 1, ""), ("ch1", 1, 2, ""))
    result = metrics(segs, roles={"ch0": "agent"})
    assert result["ch0"].role == "agent"
    assert result["ch1"].role is None


# --- talk time --------------------------------------------------------------


def test_talk_s_counts_overlapping_segments_of_one_speaker_once() -> None:
    segs = segments(("ch0", 0, 10, ""), ("ch0", 5, 12, ""))
    assert metrics(segs)["ch0"].talk_s == pytest.approx(12)


def test_talk_s_excludes_silence_between_segments() -> None:
    segs = segments(("ch0", 0, 2, ""), ("ch0", 5, 6, ""))
    assert metrics(segs)["ch0"].talk_s == pytest.approx(3)


def test_talk_ratio_is_share_of_total_talk_excluding_silence() -> None:
    segs = segments(("ch0", 0, 3, ""), ("ch1", 10, 11, ""))
    result = metrics(segs)
    assert result["ch0"].talk_ratio == pytest.approx(0.75)
    assert result["ch1"].talk_ratio == pytest.approx(0.25)


def test_talk_ratios_sum_to_one_even_when_speakers_overlap() -> None:
    segs = segments(("ch0", 0, 10, ""), ("ch1", 5, 15, ""), ("ch1", 20, 21, ""))
    assert sum(row.talk_ratio for row in metrics(segs).values()) == pytest.approx(1)


def test_talk_ratios_are_zero_when_nobody_talked() -> None:
    segs = segments(("ch0", 1, 1, ""), ("ch1", 2, 2, ""))
    assert [row.talk_ratio for row in metrics(segs).values()] == [0.0, 0.0]


def test_segment_ending_before_it_starts_counts_as_no_talk() -> None:
    segs = segments(("ch0", 5, 4, ""), ("ch0", 10, 11, ""))
    assert metrics(segs)["ch0"].talk_s == pytest.approx(1)


# --- turns and monologues ---------------------------------------------------


def test_turns_count_runs_of_consecutive_segments_by_one_speaker() -> None:
    segs = segments(
        ("ch0", 0, 1, ""), ("ch0", 1, 2, ""), ("ch1", 3, 4, ""), ("ch0", 5, 6, "")
    )
    result = metrics(segs)
    assert result["ch0"].turns == 2
    assert result["ch1"].turns == 1


def test_longest_monologue_spans_first_start_to_last_end_of_a_turn() -> None:
    segs = segments(
        ("ch0", 0, 4, ""), ("ch0", 5, 9, ""),  # one turn, 0..9, pause included
        ("ch1", 10, 11, ""),
        ("ch0", 12, 13, ""),
    )
    assert metrics(segs)["ch0"].longest_monologue_s == pytest.approx(9)


def test_longest_monologue_ends_at_latest_end_when_segments_nest() -> None:
    segs = segments(("ch0", 0, 10, ""), ("ch0", 2, 3, ""))
    assert metrics(segs)["ch0"].longest_monologue_s == pytest.approx(10)


# --- words ------------------------------------------------------------------


def test_word_count_counts_words_attributed_to_the_speaker() -> None:
    segs = segments(("ch0", 0, 1, ""), ("ch1", 1, 2, ""))
    result = metrics(segs, words_for("ch0", "ch1", "ch0", "ch0"))
    assert (result["ch0"].word_count, result["ch1"].word_count) == (3, 1)


def test_words_per_minute_is_words_over_talk_minutes() -> None:
    segs = segments(("ch0", 0, 10, ""), ("ch0", 20, 25, ""))  # 15 s of talk
    result = metrics(segs, words_for(*["ch0"] * 30))
    assert result["ch0"].words_per_minute == pytest.approx(120)


def test_words_per_minute_is_none_without_talk_time() -> None:
    segs = segments(("ch0", 3, 3, "hi"))
    assert metrics(segs, words_for("ch0"))["ch0"].words_per_minute is None


# --- questions --------------------------------------------------------------


def test_questions_count_sentences_ending_in_question_mark() -> None:
    segs = segments(
        ("ch0", 0, 1, "Hi. How are you? Can I help with the bill? Sure."),
        ("ch0", 2, 3, "Anything else?"),
        ("ch1", 1, 2, "Yes. It is wrong!"),
    )
    result = metrics(segs)
    assert (result["ch0"].questions, result["ch1"].questions) == (3, 0)


def test_repeated_or_mixed_question_marks_close_one_question() -> None:
    assert count_questions("Really?? What?!") == 2


def test_decimal_point_does_not_split_a_question() -> None:
    assert count_questions("Is it 3.5 gigabytes?") == 1


def test_question_mark_without_words_is_not_a_question() -> None:
    assert count_questions("Okay. ?") == 0


def test_question_without_closing_mark_is_not_counted() -> None:
    assert count_questions("can you hear me") == 0


# --- interruptions ----------------------------------------------------------


def test_interruption_counted_when_starting_while_another_speaker_talks() -> None:
    segs = segments(("ch0", 0, 10, ""), ("ch1", 5, 7, ""))
    result = metrics(segs)
    assert (result["ch0"].interruptions, result["ch1"].interruptions) == (0, 1)


def test_interruption_needs_more_than_point_three_seconds_overlap() -> None:
    exactly = segments(("ch0", 0, 10.3, ""), ("ch1", 10.0, 13, ""))
    just_over = segments(("ch0", 0, 10.31, ""), ("ch1", 10.0, 13, ""))
    assert metrics(exactly)["ch1"].interruptions == 0
    assert metrics(just_over)["ch1"].interruptions == 1


def test_interruption_overlap_ends_with_the_interrupting_segment() -> None:
    # A 0.2 s "mm-hm" inside the other speaker's long turn is a backchannel.
    segs = segments(("ch0", 0, 10, ""), ("ch1", 5.0, 5.2, "mm-hm"))
    assert metrics(segs)["ch1"].interruptions == 0


def test_starting_after_the_other_speaker_ends_is_not_an_interruption() -> None:
    segs = segments(("ch0", 0, 5, ""), ("ch1", 5, 8, ""), ("ch0", 9, 10, ""))
    assert [row.interruptions for row in metrics(segs).values()] == [0, 0]


def test_interruption_overlap_uses_the_other_speakers_continuous_speech() -> None:
    # ch0's touching segments are one stretch of speech, 0..10: overlap 1.1 s, not 0.1 s.
    segs = segments(("ch0", 0, 5, ""), ("ch0", 5, 10, ""), ("ch1", 4.9, 6, ""))
    assert metrics(segs)["ch1"].interruptions == 1


def test_simultaneous_starts_are_not_interruptions() -> None:
    segs = segments(("ch0", 0, 5, ""), ("ch1", 0, 5, ""))
    assert [row.interruptions for row in metrics(segs).values()] == [0, 0]


def test_one_interruption_per_start_when_talking_over_several_speakers() -> None:
    segs = segments(
        ("speaker_0", 0, 10, ""), ("speaker_1", 1, 10, ""), ("speaker_2", 5, 8, "")
    )
    assert metrics(segs)["speaker_2"].interruptions == 1


def test_each_interrupting_segment_start_counts() -> None:
    segs = segments(("ch0", 0, 20, ""), ("ch1", 2, 4, ""), ("ch1", 10, 12, ""))
    assert metrics(segs)["ch1"].interruptions == 2


# --- patience ---------------------------------------------------------------


def test_patience_is_mean_gap_before_the_speakers_turns() -> None:
    segs = segments(
        ("ch0", 0, 2, ""),
        ("ch1", 3, 5, ""),  # gap 1
        ("ch0", 7, 8, ""),  # gap 2
        ("ch1", 8.5, 9, ""),  # gap 0.5
    )
    result = metrics(segs)
    assert result["ch0"].patience_s == pytest.approx(2)  # the opening turn follows no one
    assert result["ch1"].patience_s == pytest.approx(0.75)


def test_patience_ignores_negative_gaps() -> None:
    segs = segments(("ch0", 0, 10, ""), ("ch1", 9, 12, ""), ("ch0", 13, 14, ""))
    result = metrics(segs)
    assert result["ch1"].patience_s == 0.0  # overlap of 1 s counts as 0, not -1
    assert result["ch0"].patience_s == pytest.approx(1)


def test_patience_measures_from_the_end_of_the_whole_previous_turn() -> None:
    segs = segments(("ch0", 0, 2, ""), ("ch0", 4, 6, ""), ("ch1", 7, 8, ""))
    assert metrics(segs)["ch1"].patience_s == pytest.approx(1)


def test_patience_is_none_for_a_speaker_who_never_follows_another() -> None:
    segs = segments(("ch0", 0, 2, ""), ("ch1", 3, 5, ""))
    assert metrics(segs)["ch0"].patience_s is None
