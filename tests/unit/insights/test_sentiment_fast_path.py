"""The fast VADER compound is exactly VADER's own ``polarity_scores(text)["compound"]``.

``callmine.insights.sentiment`` re-states VADER 3.3.2's scoring for ASCII text (see its
docstring). These tests compare it with the library on the shipped sample dialogues, the
fake service's phrase bank, the load benchmark's lines and many seeded random mixes built
to reach every rule: boosters and dampeners (also ALL CAPS), "kind of" / "sort of",
negations and "n't", "no" before a lexicon word, "never so", "without doubt", "least",
special-case idioms, "but", ``!`` / ``?`` emphasis, emoticons, punctuation-only and short
tokens, non-ASCII text and emoji (which must go through the library).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import vaderSentiment.vaderSentiment as vs

from callmine.insights import sentiment
from callmine.insights.sentiment import score_texts
from tests.fake_pyai import phrase_bank

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def library() -> vs.SentimentIntensityAnalyzer:
    return sentiment._vader()


@pytest.fixture(scope="module")
def fast():
    compound = sentiment._compound_scorer()
    assert compound is not None
    return compound


def _same(a: float, b: float) -> bool:
    """Equal values, equal types, equal sign of zero."""
    return type(a) is type(b) and a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _check_all(library, fast, texts: list[str]) -> None:
    mismatches = []
    for text in texts:
        expected = float(library.polarity_scores(text)["compound"])
        got = fast(text)
        if not _same(got, expected):
            mismatches.append((text, expected, got))
    assert not mismatches, mismatches[:10]


def _sample_texts() -> list[str]:
    texts = []
    dialogues = json.loads((ROOT / "include" / "samples" / "dialogues.json").read_text(encoding="utf-8"))
    texts += [turn["text"] for call in dialogues["calls"] for turn in call["turns"]]
    for path in sorted((ROOT / "include" / "samples" / "calls").glob("*.truth.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        texts += [turn["text"] for turn in truth["turns"]]
    for line in phrase_bank.AGENT_LINES + phrase_bank.CUSTOMER_LINES:
        texts += [phrase_bank.render(line, numerals=False), phrase_bank.render(line, numerals=True)]
    return texts


def test_the_fast_path_is_in_use_for_the_real_analyzer(library, fast) -> None:
    assert getattr(fast, "__name__", "") == "score"  # not the plain library wrapper


def test_sample_dialogues_and_phrase_bank_score_exactly_as_vader(library, fast) -> None:
    texts = _sample_texts()
    assert len(texts) > 50
    _check_all(library, fast, texts)
    _check_all(library, fast, [t.upper() for t in texts] + [t.lower() for t in texts])


def test_vaders_own_examples_score_exactly_as_vader(library, fast) -> None:
    _check_all(library, fast, [
        "VADER is smart, handsome, and funny.", "VADER is smart, handsome, and funny!",
        "VADER is very smart, handsome, and funny.", "VADER is VERY SMART, handsome, and FUNNY.",
        "VADER is VERY SMART, handsome, and FUNNY!!!", "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
        "VADER is not smart, handsome, nor funny.", "The book was good.", "At least it isn't a horrible book.",
        "The book was only kind of good.", "The plot was good, but the characters are uncompelling and the dialog is not great.",
        "Today SUX!", "Today only kinda sux! But I'll get by, lol", "Make sure you :) or :D today!",
        "Catch utf-8 emoji such as 💘 and 💋 and 😁", "Not bad at all",
        "Sentiment analysis has never been good.", "Sentiment analysis has never been this good!",
        "Most automated sentiment analysis tools are shit.", "With VADER, sentiment analysis is the shit!",
        "Other sentiment analysis tools can be quite bad.", "On the other hand, VADER is quite bad ass",
        "VADER is such a badass!", "Without a doubt, excellent idea.",
        "Roger Dodger is one of the most compelling variations on this theme.",
        "Roger Dodger is at least compelling as a variation on the theme.",
        "Roger Dodger is one of the least compelling variations on this theme.",
        "Not such a badass after all.", "Without a doubt, an excellent idea.",
        "It was one of the worst movies I've seen, despite good reviews.", "Unbelievably bad acting!!",
        "VERY poor production.", "VERY BAD movie!", "no good", "No good.", "not good", "no no no", "no",
        "kind of good", "kind of", "kind", "sort of bad", "good but bad", "but", "bad, but good!!!???",
        "the shit", "yeah right", "kiss of death", "to die for", "bus stop", "beating heart",
        "cut the mustard", "under the weather", "a bus stop is nice", "good?? really??", "?? !!",
        "very very very good", "VERY good", "very GOOD", "GOOD", "GOOD good", ":)", ":-(", ":D", "<3",
        "good :(", "least good", "at least good", "very least good", "the least good", "never so good",
        "never this bad", "so good", "this good", "without doubt good", "without any doubt good",
        "isn't good", "isn't", "ain't bad", "couldn't be happier", "no or bad", "no nor good",
        "no, I do not want that", "This is not a problem at all!", "...", "!", "a", "  good  ",
        "\tbad\n", "good\x1cbad", "café is good", "naïve good", "good 😀", "😀", "I ❤ this",
        # Rules that need three or four words in place (rarely met by chance).
        "no good nor bad", "no fun nor joy", "no time or money", "we have no money or love",
        "bus stop the shit", "a bus stop the bomb", "one two three bad ass", "big bus stop is bad",
        "oh well then kiss of death", "and so kiss of death", "my my my yeah right", "well well yeah right!",
        "is it to die for", "that was to die for", "a real beating heart", "the upper hand is good",
        "never so very good", "never this kind of bad", "without a doubt good", "without any doubt, bad",
        "at the least good", "not the least bad", "NO GOOD nor BAD", "Kind Of Good", "KIND OF GOOD but BAD",
    ])


# Words that exercise every rule, plus neutral filler and punctuation-bearing tokens.
_RULE_WORDS = [
    "no", "not", "never", "without", "doubt", "isn't", "don't", "nothing", "nor", "or", "cannot", "uh-uh", "n't",
    "least", "at", "very", "so", "this", "but", "BUT", "kind", "of", "sort", "kinda", "sorta", "kind-of", "just",
    "enough", "more", "most", "less", "little", "barely", "extremely", "EXTREMELY", "really", "REALLY", "totally",
    "the", "shit", "bomb", "bad", "ass", "badass", "bus", "stop", "yeah", "right", "kiss", "death", "to", "die",
    "for", "beating", "heart", "cut", "mustard", "under", "weather", "upper", "hand",
]
_SENTIMENT_WORDS = [
    "good", "GOOD", "great", "Great", "happy", "bad", "BAD", "terrible", "awful", "love", "hate", "okay", "Okay",
    "thanks", "thank", "please", "sorry", "fine", "perfect", "problem", "problems", "help", "helpful", "yes",
    "like", "best", "worst", "frustrating", "angry", "disappointed", "agreed", "sure", "want", "cancel", "fee",
    "honestly", "lol", "sux", "fuck", "wow", ":)", ":(", ":-)", ":D", ";)", "<3", ":/", "=)",
]
_FILLER = [
    "I", "you", "we", "it", "is", "was", "a", "an", "account", "number", "price", "refund", "contract", "Tuesday",
    "4567", "20%", "5-7", "x", "OK", "TV", "ID", "S", "M", "Smith", "ACME", "um", "uh", "hmm", "...", "-", "--",
]
_PUNCT_AFTER = ["", "", "", ",", ".", "!", "?", "!!", "??", "?!", "...", ";", ":", "'", "\""]
_PUNCT_BEFORE = ["", "", "", "", "\"", "'", "(", "-", "*"]


def _random_text(rng: random.Random) -> str:
    n = rng.randint(1, 18)
    tokens = []
    for _ in range(n):
        pool = rng.choice((_RULE_WORDS, _SENTIMENT_WORDS, _FILLER, _RULE_WORDS + _SENTIMENT_WORDS))
        word = rng.choice(pool)
        shape = rng.random()
        if shape < 0.08:
            word = word.upper()
        elif shape < 0.12:
            word = word.capitalize()
        tokens.append(rng.choice(_PUNCT_BEFORE) + word + rng.choice(_PUNCT_AFTER))
    sep = rng.choice((" ", " ", " ", "  ", "\t", " \n"))
    text = sep.join(tokens)
    if rng.random() < 0.05:
        text = text.upper()
    return text


def test_random_rule_mixes_score_exactly_as_vader(library, fast) -> None:
    rng = random.Random(20240305)
    _check_all(library, fast, [_random_text(rng) for _ in range(20_000)])


def test_random_lexicon_mixes_score_exactly_as_vader(library, fast) -> None:
    """Any lexicon word (also those with punctuation, like emoticons), in any company."""
    rng = random.Random(7)
    lexicon = sorted(library.lexicon)
    pool = lexicon + _RULE_WORDS + _FILLER + list(vs.BOOSTER_DICT) + list(vs.NEGATE)
    texts = []
    for _ in range(10_000):
        words = [rng.choice(pool) for _ in range(rng.randint(1, 15))]
        words = [w.upper() if rng.random() < 0.1 else w for w in words]
        texts.append(" ".join(w + rng.choice(_PUNCT_AFTER) for w in words))
    _check_all(library, fast, texts)


def test_single_lexicon_words_and_their_shapes_score_exactly_as_vader(library, fast) -> None:
    texts = []
    for word in library.lexicon:
        texts += [word, word.upper(), f"{word}!", f"not {word}", f"no {word}", f"very {word}", f"VERY {word}",
                  f"{word} but ok", f"kind of {word}", f"the {word}", f"never so {word}??"]
    _check_all(library, fast, texts)


def test_score_texts_uses_the_fast_path_and_agrees_with_vader(library) -> None:
    texts = _sample_texts()
    _, scores = score_texts(texts)
    assert scores == [float(library.polarity_scores(t.strip())["compound"]) if t.strip() else 0.0 for t in texts]


def test_a_shared_cache_scores_a_repeated_text_once_across_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = sentiment._compound_scorer()

    def counting(text: str) -> float:
        seen.append(text)
        return real(text)

    monkeypatch.setattr(sentiment, "_compound_scorer", lambda: counting)
    cache: dict[str, float] = {}
    first = score_texts(["Okay.", "Thanks so much!"], cache)
    second = score_texts(["  Okay. ", "This is awful."], cache)
    assert seen == ["Okay.", "Thanks so much!", "This is awful."]
    assert first[1][0] == second[1][0]
    assert second == score_texts(["Okay.", "This is awful."])
