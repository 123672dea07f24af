"""VADER sentiment for transcript text: labels, scores, thresholds and the shared analyzer."""

from __future__ import annotations

import pytest

from callmine.insights import sentiment
from callmine.insights.sentiment import label_for, score_texts, shift_compound


def test_a_happy_text_is_positive_with_a_positive_compound() -> None:
    labels, scores = score_texts(["Great, thank you so much, that really helps!"])
    assert labels == ["positive"]
    assert scores[0] >= 0.05


def test_an_angry_text_is_negative_with_a_negative_compound() -> None:
    labels, scores = score_texts(["This is terrible, I am really angry and disappointed."])
    assert labels == ["negative"]
    assert scores[0] <= -0.05


def test_a_factual_text_is_neutral() -> None:
    assert score_texts(["The account ends in four two seven."]) == (["neutral"], [0.0])


def test_empty_and_blank_texts_are_neutral_zero() -> None:
    assert score_texts(["", "   "]) == (["neutral", "neutral"], [0.0, 0.0])


def test_no_texts_give_no_scores() -> None:
    assert score_texts([]) == ([], [])


def test_scores_come_back_one_per_text_in_input_order() -> None:
    texts = ["Thank you, that is wonderful.", "Okay.", "This is awful.", "Thank you, that is wonderful."]
    labels, scores = score_texts(texts)
    assert labels == ["positive", "positive", "negative", "positive"]
    assert scores[0] == scores[3]
    assert scores == [score_texts([t])[1][0] for t in texts]


@pytest.mark.parametrize(
    ("score", "label"),
    [(0.05, "positive"), (0.9, "positive"), (0.0499, "neutral"), (0.0, "neutral"), (-0.0499, "neutral"),
     (-0.05, "negative"), (-1.0, "negative")],
)
def test_labels_follow_vaders_thresholds(score: float, label: str) -> None:
    assert label_for(score) == label


class _CountingVader:
    """Stands in for SentimentIntensityAnalyzer and counts what it is asked."""

    built = 0

    def __init__(self) -> None:
        type(self).built += 1
        self.calls: list[str] = []

    def polarity_scores(self, text: str) -> dict[str, float]:
        self.calls.append(text)
        return {"compound": 0.5}


@pytest.fixture
def counting_vader(monkeypatch: pytest.MonkeyPatch) -> type[_CountingVader]:
    import vaderSentiment.vaderSentiment as vs

    _CountingVader.built = 0
    monkeypatch.setattr(vs, "SentimentIntensityAnalyzer", _CountingVader)
    monkeypatch.setattr(sentiment, "_analyzer", None)  # forget the real one for this test only
    return _CountingVader


def test_the_analyzer_is_built_once_and_shared_across_calls(counting_vader: type[_CountingVader]) -> None:
    for _ in range(3):
        score_texts(["Thanks."])
    assert counting_vader.built == 1


def test_a_repeated_text_in_one_batch_is_scored_once(counting_vader: type[_CountingVader]) -> None:
    labels, _ = score_texts(["Okay.", "Okay.", "Thanks.", "Okay."])
    assert labels == ["positive"] * 4
    assert sentiment._vader().calls == ["Okay.", "Thanks."]


def test_blank_texts_never_reach_vader(counting_vader: type[_CountingVader]) -> None:
    score_texts(["", "  "])
    assert sentiment._vader().calls == []


def test_shifting_by_a_negative_valence_lowers_the_compound_within_bounds() -> None:
    for compound in (-0.99, -0.3, 0.0, 0.3, 0.99, 1.0):
        shifted = shift_compound(compound, -2.0)
        assert -1.0 <= shifted < compound or compound == -1.0


def test_shifting_by_no_valence_keeps_the_compound() -> None:
    assert shift_compound(0.318, 0.0) == 0.318


def test_a_shift_is_what_vader_gives_a_text_with_an_extra_word_of_that_valence() -> None:
    """"good" is +1.9 in VADER's lexicon, so shifting "The plan." by 1.9 scores it like "The plan is good."."""
    _, (plain, good) = score_texts(["The plan.", "The plan is good."])
    assert shift_compound(plain, 1.9) == pytest.approx(good, abs=1e-3)
