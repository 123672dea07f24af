"""Column-wise metrics give exactly the per-segment results.

``metrics._column_parts`` computes talk time, turns, monologues, interruptions and
patience with numpy over a call's segments; ``_scalar_parts`` is the per-segment
implementation it replaced (still used for segments out of start order). Question
counting jumps from one ``?`` to the next; it is compared with the sentence-by-sentence rule.
"""

from __future__ import annotations

import random
import re

import numpy as np

from callmine.metrics import _column_parts, _scalar_parts, compute_speaker_metrics, count_questions
from callmine.normalize import link_words
from callmine.transcript import Segments, Words


def _random_segments(rng: random.Random) -> Segments:
    """Start-ordered segments: overlaps, nesting, touching, equal starts, zero length, end before start."""
    segs = Segments()
    t = rng.choice([0, 0.0, 1.5])
    keys = ["ch0", "ch1", "ch2"][: rng.randint(1, 3)]
    for _ in range(rng.randint(1, 25)):
        length = rng.choice([0, 0.0, 0.2, 0.3, 0.31, 1.0, 4.0, -0.5, rng.uniform(0, 3)])
        segs.start.append(t)
        segs.end.append(t + length)
        segs.text.append("")
        segs.speaker.append(rng.choice(keys))
        segs.channel.append(None)
        t = t + rng.choice([0, 0.0, 0.1, 0.3, 0.7, 2.0, rng.uniform(0, 2)])
    if rng.random() < 0.2:  # integer times, as some providers give
        segs.start[:] = [int(s) for s in segs.start]
        segs.start.sort()
    return segs


def _by_speaker(parts: tuple, speakers: list[str]) -> list:
    """Each part as compute_speaker_metrics reads it (Counter / defaultdict defaults, ``get`` for patience)."""
    *indexed, patience = parts
    return [[part[spk] for spk in speakers] for part in indexed] + [[patience.get(spk) for spk in speakers]]


def test_column_parts_equal_scalar_parts_on_random_calls() -> None:
    rng = random.Random(13)
    for _ in range(5000):
        segs = _random_segments(rng)
        speakers = sorted(set(segs.speaker))
        column = _column_parts(segs, speakers)
        assert column is not None
        assert _by_speaker(column, speakers) == _by_speaker(_scalar_parts(segs, speakers), speakers), segs


def test_segments_out_of_start_order_take_the_scalar_path() -> None:
    segs = Segments([2.0, 0.0], [3.0, 1.0], ["", ""], ["ch0", "ch1"], [None, None])
    assert _column_parts(segs, ["ch0", "ch1"]) is None


def test_word_counts_from_cached_codes_equal_counting_the_list() -> None:
    segs = Segments([0.0, 1.0], [1.0, 2.0], ["", ""], ["ch0", "ch1"], [0, 1])
    segs_copy = Segments(*(list(col) for col in (segs.start, segs.end, segs.text, segs.speaker, segs.channel)))
    start = [0.1, 0.5, 1.2, 1.5]
    linked = link_words(segs, start, [0.2, 0.6, 1.3, 1.6], ["a", "b", "c", "d"], ["ch0", None, "ch1", "ch9"],
                        [None] * 4, times=(np.array(start), np.array([0.2, 0.6, 1.3, 1.6])))
    plain = Words(*(list(col) for col in (linked.start, linked.end, linked.word, linked.speaker, linked.confidence,
                                          linked.segment_idx)))
    assert compute_speaker_metrics(segs, linked, {}) == compute_speaker_metrics(segs_copy, plain, {})


_SENTENCE_END = re.compile(r"[.!?]+")
_WORD_CHAR = re.compile(r"\w")


def _reference_questions(text: str) -> int:
    """The contract's rule, sentence by sentence."""
    count, sentence_start = 0, 0
    for end in _SENTENCE_END.finditer(text):
        if "?" in end.group() and _WORD_CHAR.search(text, sentence_start, end.start()):
            count += 1
        sentence_start = end.end()
    return count


def test_count_questions_matches_the_sentence_rule_on_random_text() -> None:
    rng = random.Random(17)
    alphabet = ["a", "B", "1", "_", "é", " ", ".", "!", "?", ",", "-", "\n", "...", "?!", "3.5"]
    for _ in range(100_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        assert count_questions(text) == _reference_questions(text), repr(text)


def test_count_questions_stays_linear_on_a_long_unterminated_sentence() -> None:
    text = "a " * 200_000 + ". ?"  # quadratic backtracking would take minutes
    assert count_questions(text) == 0
