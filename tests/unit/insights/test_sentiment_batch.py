"""A call's texts scored at once (``vader_fast``'s ``many``) score exactly as VADER scores each alone.

``many`` decides per lexicon word whether a rule can reach it, sums column-wise, restates
``_but_check`` and remembers token facts, ``valence`` results and compounds across calls. These
tests compare it with the library on seeded random batches built to reach every branch: rule
words right before a text starts (the window must not reach into the text before), "no" before
a lexicon word, "kind of", idioms, ALL CAPS next to lower case, "but" with repeated and rescaled
valences, ``!`` / ``?`` counts, NUL and control characters, non-ASCII and blank texts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, MutableMapping

import pytest
import vaderSentiment.vaderSentiment as vs

from callmine.insights import sentiment, vader_fast
from callmine.insights.sentiment import score_texts
from tests.unit.insights.test_sentiment_fast_path import _FILLER, _RULE_WORDS, _SENTIMENT_WORDS, _random_text


@pytest.fixture(scope="module")
def library() -> vs.SentimentIntensityAnalyzer:
    return sentiment._vader()


@pytest.fixture
def fresh():
    """A new fast VADER: empty memos, so a test sees its own first look-ups too."""
    fast = vader_fast.fast_vader(sentiment._vader().lexicon, vs)
    assert fast is not None
    return fast


def _expected(library, texts: list[str]) -> list[float]:
    return [float(library.polarity_scores(text)["compound"]) for text in texts]


def _same(got: list[float], expected: list[float]) -> bool:
    """Equal values, equal types, equal sign of zero."""
    return len(got) == len(expected) and all(
        type(a) is type(b) and a == b and math.copysign(1.0, a) == math.copysign(1.0, b) for a, b in zip(got, expected))


def _batches(rng: random.Random, texts: list[str]) -> Iterator[list[str]]:
    at = 0
    while at < len(texts):
        size = rng.choice((1, 2, 3, 8, 40, 200))
        yield texts[at:at + size]
        at += size


def _check_batched(library, many, texts: list[str], seed: int = 1) -> None:
    rng = random.Random(seed)
    mismatches = []
    for batch in _batches(rng, texts):
        got = many(batch)
        expected = _expected(library, batch)
        if not _same(got, expected):
            mismatches += [(t, e, g) for t, e, g in zip(batch, expected, got) if not _same([g], [e])]
    assert not mismatches, mismatches[:10]


_EDGE_WORDS = ["but", "BUT", "But,", "kind", "of", "no", "No", "NO", "not", "never", "so", "this", "least", "very",
               "the", "shit", "yeah", "right", "to", "die", "for", "bus", "stop", "just", "enough", "good", "good",
               "great", "bad", "sorry", "okay", "love", "hate", "problem", "!", "?", "??", "!?", "wow!", "why?",
               "sure?!", "n't", "isn't", "GOOD", "Great!", "I", "OK", "a", "-", "...", "x1", "_", "kind-of"]


def _edge_text(rng: random.Random) -> str:
    words = [rng.choice(_EDGE_WORDS + _RULE_WORDS + _SENTIMENT_WORDS + _FILLER) for _ in range(rng.randint(1, 12))]
    words = [w.upper() if rng.random() < 0.07 else w for w in words]
    return rng.choice((" ", "  ", "\t", " \x1c ")).join(words).strip()


def test_random_rule_mixes_score_as_vader_in_batches(library, fresh) -> None:
    rng = random.Random(11)
    _check_batched(library, fresh.many, [_random_text(rng).strip() for _ in range(12_000)])


def test_texts_built_around_rules_score_as_vader_in_batches(library, fresh) -> None:
    rng = random.Random(12)
    _check_batched(library, fresh.many, [_edge_text(rng) for _ in range(12_000)], seed=2)


def test_rule_words_ending_the_text_before_do_not_reach_the_next(library, fresh) -> None:
    texts = ["I am not", "good at all", "it was very", "bad", "no", "problem here", "never so", "good", "without",
             "doubt good", "at least", "good", "kind", "of good", "yeah", "right", "VERY", "good", "Good", "I AM"]
    assert _same(fresh.many(texts), _expected(library, texts))


def test_but_rescales_repeated_values_as_the_library_does(library, fresh) -> None:
    texts = ["good good but good good", "great good but bad bad", "good but great good", "bad but bad but bad",
             "love love love but hate", "good, but GOOD!!", "no good but good", "kind of good but good",
             "great but", "but great", "good but", "but", "sorry but okay okay sorry", "so good but not so good"]
    assert _same(fresh.many(texts), _expected(library, texts))


def test_but_walk_matches_the_librarys_on_random_valences() -> None:
    rng = random.Random(5)
    check = vs.SentimentIntensityAnalyzer._but_check
    for _ in range(3_000):
        n = rng.randint(1, 8)
        values = [rng.choice((1.9, 0.95, 3.8, -1.9, 2.85, 1.5, -0.75)) for _ in range(n)]
        but_at = rng.randint(0, n)
        words = [f"w{k}" for k in range(n)]
        words.insert(but_at, "but")
        sentiments = values[:but_at] + [0] + values[but_at:]
        expected = [v for k, v in enumerate(check(words, list(sentiments))) if k != but_at]
        sides = [-1] * but_at + [1] * (n - but_at)
        assert vader_fast._but_scaled(list(values), sides) == expected


def test_exclamation_and_question_marks_amplify_as_vader(library, fresh) -> None:
    texts = [f"good{a} {b}bad{c}" for a in ("", "!", "?", "!!", "??", "???", "!!!!!", "?!?")
             for b in ("", "?", "!") for c in ("", "?", "??", "!", "????")]
    assert _same(fresh.many(texts), _expected(library, texts))


def test_a_nul_inside_a_text_still_scores_as_vader(library, fresh) -> None:
    texts = ["good\x00 bad", "\x00", "great \x00", "fine"]
    assert _same(fresh.many(texts), _expected(library, texts))


def test_many_lexicon_words_in_one_text_add_up_as_vader(library, fresh) -> None:
    rng = random.Random(3)
    lexicon = sorted(library.lexicon)
    texts = [" ".join(rng.choice(lexicon) for _ in range(rng.randint(3, 30))) for _ in range(2_000)]
    _check_batched(library, fresh.many, texts, seed=4)


def test_compensated_sum_path_scores_as_vader(library, fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where sum() compensates (Python 3.12+), three or more terms go through sum() itself."""
    monkeypatch.setattr(vader_fast, "_SEQUENTIAL_SUM", False)
    rng = random.Random(6)
    _check_batched(library, fresh.many, [_random_text(rng).strip() for _ in range(3_000)], seed=6)


def test_a_full_token_memo_starts_over_and_scores_the_same(library, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vader_fast, "_WORD_CACHE_MAX", 50)
    fast = vader_fast.fast_vader(library.lexicon, vs)
    rng = random.Random(8)
    _check_batched(library, fast.many, [_edge_text(rng) for _ in range(2_000)], seed=8)


def test_score_texts_batches_agree_with_vader_for_mixed_texts(library) -> None:
    rng = random.Random(9)
    others = ["café is good", "good 😀", "", "   ", "  good  ", "😀", "naïve", "good\x00bad"]
    texts = [others[k // 7 % len(others)] if k % 7 == 0 else _edge_text(rng) for k in range(300)]
    labels, scores = score_texts(texts, {})
    expected = [float(library.polarity_scores(t.strip())["compound"]) if t.strip() else 0.0 for t in texts]
    assert _same(scores, expected)
    assert labels == [sentiment.label_for(s) for s in expected]


def test_score_texts_treats_none_as_blank() -> None:
    assert score_texts([None, "good", None]) == (["neutral", "positive", "neutral"],  # type: ignore[list-item]
                                                 [0.0, score_texts(["good"])[1][0], 0.0])


class _ForgetfulCache(MutableMapping[str, float]):
    """A cache that keeps nothing: score_texts must still return what it scored."""

    def __getitem__(self, key: str) -> float:
        raise KeyError(key)

    def __setitem__(self, key: str, value: float) -> None:
        pass

    def __delitem__(self, key: str) -> None:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def test_score_texts_returns_its_scores_with_a_cache_that_keeps_nothing() -> None:
    rng = random.Random(10)
    texts = [_edge_text(rng) for _ in range(50)]
    assert score_texts(texts, _ForgetfulCache()) == score_texts(texts)
