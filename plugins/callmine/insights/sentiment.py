"""VADER sentiment for transcript text: one ``(label, compound)`` per text.

Used twice: by the ``lexical`` analyzer (the customer's sentences) and to fill the
per-segment ``sentiment`` / ``sentiment_score`` columns of every call, so it has to be
cheap for hundreds of thousands of segments a day: the analyzer (it loads a
~7,500-word lexicon) is built once per process and shared, repeated texts ("Okay.",
"Thank you.") are scored once (per call, or per batch with a shared ``cache``), and
``compound`` is computed by ``_fast_compound_for``'s function.

That function is VADER 3.3.2's ``polarity_scores(text)["compound"]`` re-stated for
ASCII text, exactly (same values, same float operations in the same order), without the
library's per-word overheads (re-lowercasing every word of the sentence for every
lexicon word it scores, the per-character emoji loop, the ``pos``/``neu``/``neg``
ratios we do not use). A text with no lexicon word is 0.0 after tokenizing alone: VADER
only ever gives valence to lexicon words (boosters, negations, "no", "least", idioms,
"but" and ``!``/``?`` emphasis all scale a lexicon word's valence or a non-zero sum).
Non-ASCII texts (emoji are translated to lexicon words by VADER) and any other VADER
version go through the library itself. ``tests/unit/insights/test_sentiment_fast_path.py``
compares both on many texts.

Scores are VADER's own ``compound`` in [-1, 1], labelled with VADER's recommended
thresholds (``>= 0.05`` positive, ``<= -0.05`` negative, else neutral). No domain
tuning here: a segment's column means "what VADER says about this text".
"""

from __future__ import annotations

import math
import re
import string
import threading
from collections.abc import Callable, MutableMapping, Sequence
from itertools import compress, repeat

from callmine.insights.model import Sentiment

POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
_VADER_ALPHA = 15.0  # VADER's compound normalisation constant: x / sqrt(x^2 + alpha)
_FAST_VADER_VERSION = "3.3.2"  # the release _fast_compound re-states; any other uses the library

_lock = threading.Lock()
_analyzer = None
_scorer: tuple[object, Callable[[str], float]] | None = None  # (analyzer, text -> compound)


def _vader():  # -> SentimentIntensityAnalyzer (untyped library)
    """The process-wide analyzer, built on first use (import and lexicon load are lazy)."""
    global _analyzer
    if _analyzer is None:
        with _lock:  # two threads must not both pay for (or half-see) the lexicon load
            if _analyzer is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


def _compound_scorer() -> Callable[[str], float]:
    """``text -> compound`` for the shared analyzer: the fast path when it is VADER 3.3.2's own."""
    global _scorer
    analyzer = _vader()
    scorer = _scorer
    if scorer is None or scorer[0] is not analyzer:
        scorer = (analyzer, _make_scorer(analyzer))
        _scorer = scorer
    return scorer[1]


def _make_scorer(analyzer) -> Callable[[str], float]:
    def library(text: str) -> float:
        return float(analyzer.polarity_scores(text)["compound"])

    from importlib.metadata import PackageNotFoundError, version

    import vaderSentiment.vaderSentiment as vs

    try:
        genuine = version("vaderSentiment") == _FAST_VADER_VERSION
    except PackageNotFoundError:  # pragma: no cover - vendored copy: trust only the library
        genuine = False
    lexicon = getattr(analyzer, "lexicon", None)
    if not genuine or type(analyzer) is not vs.SentimentIntensityAnalyzer or not isinstance(lexicon, dict):
        return library  # a stand-in (tests) or another VADER: exactly what it says
    fast = _fast_compound_for(lexicon, vs)
    if fast is None:
        return library

    def score(text: str) -> float:
        return fast(text) if text.isascii() else library(text)

    return score


def label_for(score: float) -> Sentiment:
    """``positive`` / ``negative`` / ``neutral`` by VADER's thresholds."""
    if score >= POSITIVE_AT:
        return "positive"
    if score <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def score_texts(texts: Sequence[str], cache: MutableMapping[str, float] | None = None) -> tuple[list[str], list[float]]:
    """Labels and compound scores, one each per text, in input order.

    Empty or whitespace-only texts are ``neutral`` / 0.0 without calling VADER. ``cache``
    (stripped text -> compound), when given, is read and filled, so a caller scoring many
    calls (one batch) scores a repeated text once; without it, repeats within ``texts``.
    """
    compound = _compound_scorer()
    seen: MutableMapping[str, float] = {} if cache is None else cache
    scores: list[float] = []
    for text in texts:
        key = (text or "").strip()
        score = seen.get(key)
        if score is None:
            score = compound(key) if key else 0.0
            seen[key] = score
        scores.append(score)
    return [label_for(s) for s in scores], scores


def shift_compound(compound: float, valence: float) -> float:
    """``compound`` as if the text had carried ``valence`` more (VADER's word scale, -4..4).

    Undoes VADER's normalisation, adds, and normalises again, so a caller can add
    domain words VADER's lexicon lacks (``lexical`` does, for customer complaints).
    """
    if not valence:
        return compound
    c = max(-0.9999, min(0.9999, compound))
    raw = c * math.sqrt(_VADER_ALPHA / (1.0 - c * c)) + valence
    return raw / math.sqrt(raw * raw + _VADER_ALPHA)


# --- VADER 3.3.2 compound, re-stated ---------------------------------------------------------------


_WORD_CACHE_MAX = 1 << 17  # distinct tokens remembered per process (a few MB at most)


class _VaderWords(dict):
    """Lowercased token -> VADER's word for it (``SentiText._strip_punc_if_word``), memoized."""

    __slots__ = ()

    def __missing__(self, token: str) -> str:
        stripped = token.strip(string.punctuation)
        word = stripped if len(stripped) > 2 else token
        if len(self) >= _WORD_CACHE_MAX:
            self.clear()
        self[token] = word
        return word


def _fast_compound_for(lexicon: dict[str, float], vs) -> Callable[[str], float] | None:  # noqa: C901
    """``text -> polarity_scores(text)["compound"]`` for ASCII ``text``, with ``lexicon`` and ``vs``'s rules.

    None if the lexicon breaks an assumption below (a word of valence 0): use the library.

    ``valence`` is, line by line, the library's ``sentiment_valence`` with its
    ``scalar_inc_dec`` / ``_negation_check`` / ``_special_idioms_check`` / ``_least_check``,
    on words lowercased once. For ASCII text, lowercasing and punctuation stripping commute
    and stripping keeps ``isupper()``, so the lowered text's tokens are VADER's lowered words.

    Most lexicon words have no rule word near them; their valence is the lexicon's (plus
    the ALL-CAPS emphasis), which is what ``valence`` computes for them too: every rule
    needs a booster, a negation, one of a few function words (``rule_words``) within
    three words before it or as the word itself, a word with "n't", or two words of a
    multi-word idiom / dampener side by side (``pairs``); otherwise each step adds 0.0
    or leaves the valence alone (lexicon valences are never 0, so adding 0.0 is exact).
    Those lexicon words keep their lexicon valence; the others go through ``valence``.
    """
    booster = vs.BOOSTER_DICT
    negate = frozenset(vs.NEGATE)
    special = vs.SPECIAL_CASES
    n_scalar, c_incr = vs.N_SCALAR, vs.C_INCR
    normalize = vs.normalize
    but_check = vs.SentimentIntensityAnalyzer._but_check
    amplify_ep = vs.SentimentIntensityAnalyzer._amplify_ep
    amplify_qm = vs.SentimentIntensityAnalyzer._amplify_qm
    vader_words = _VaderWords()
    # Words that can score: lexicon words that are not boosters (polarity_scores skips those).
    scoring = {w: v for w, v in lexicon.items() if w not in booster}
    if any(v == 0 for v in scoring.values()):  # pragma: no cover - the shortcut relies on non-zero valences
        return None
    # Words whose presence (as the word or up to three before it) can change a lexicon word's valence.
    rule_words = frozenset(booster) | negate | {
        "no", "or", "nor", "never", "so", "this", "without", "doubt", "least", "at", "very", "kind", "of",
    }
    # Adjacent word pairs of the multi-word idioms and dampeners: no pair in the text, no idiom.
    multi = [k.split() for k in list(special) + list(booster) if " " in k]
    pairs = sorted({f"{a} {b}" for words in multi for a, b in zip(words, words[1:])})
    pair_search = re.compile("|".join(map(re.escape, pairs))).search
    scoring_words = scoring.keys()
    zeros = repeat(0)  # endless: map(scoring.get, words, zeros) is scoring.get(word, 0) per word

    def negated(word: str) -> bool:  # vs.negated([word]) for a lowercased word
        return word in negate or "n't" in word

    def valence(i: int, words: list[str], raw: list[str] | None, is_cap_diff: bool) -> float:
        """``sentiment_valence`` for the lexicon word ``words[i]`` (``raw``: the original-case tokens)."""
        item = words[i]
        last = len(words) - 1
        valence = lexicon[item]
        if item == "no" and i != last and words[i + 1] in lexicon:
            valence = 0.0
        if (i > 0 and words[i - 1] == "no") or (i > 1 and words[i - 2] == "no") \
                or (i > 2 and words[i - 3] == "no" and words[i - 1] in ("or", "nor")):
            valence = lexicon[item] * n_scalar
        if is_cap_diff and raw[i].isupper():  # type: ignore[index]
            if valence > 0:
                valence += c_incr
            else:
                valence -= c_incr
        for start_i in range(0, 3):
            if i > start_i:
                j = i - (start_i + 1)
                before = words[j]
                if before in lexicon:
                    continue
                # scalar_inc_dec
                s = 0.0
                if before in booster:
                    s = booster[before]
                    if valence < 0:
                        s *= -1
                    if is_cap_diff and raw[j].isupper():  # type: ignore[index]
                        if valence > 0:
                            s += c_incr
                        else:
                            s -= c_incr
                if start_i == 1 and s != 0:
                    s = s * 0.95
                if start_i == 2 and s != 0:
                    s = s * 0.9
                valence = valence + s
                # _negation_check
                if start_i == 0:
                    if negated(words[i - 1]):
                        valence = valence * n_scalar
                elif start_i == 1:
                    if words[i - 2] == "never" and (words[i - 1] == "so" or words[i - 1] == "this"):
                        valence = valence * 1.25
                    elif words[i - 2] == "without" and words[i - 1] == "doubt":
                        pass
                    elif negated(words[i - 2]):
                        valence = valence * n_scalar
                else:
                    w1, w2, w3 = words[i - 1], words[i - 2], words[i - 3]
                    if w3 == "never" and (w2 == "so" or w2 == "this") or (w1 == "so" or w1 == "this"):
                        valence = valence * 1.25
                    elif w3 == "without" and (w2 == "doubt" or w1 == "doubt"):
                        pass
                    elif negated(w3):
                        valence = valence * n_scalar
                    # _special_idioms_check
                    onezero = f"{w1} {item}"
                    twoonezero = f"{w2} {w1} {item}"
                    twoone = f"{w2} {w1}"
                    threetwoone = f"{w3} {w2} {w1}"
                    threetwo = f"{w3} {w2}"
                    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
                        if seq in special:
                            valence = special[seq]
                            break
                    if last > i:
                        zeroone = f"{item} {words[i + 1]}"
                        if zeroone in special:
                            valence = special[zeroone]
                    if last > i + 1:
                        zeroonetwo = f"{item} {words[i + 1]} {words[i + 2]}"
                        if zeroonetwo in special:
                            valence = special[zeroonetwo]
                    for n_gram in (threetwoone, threetwo, twoone):
                        if n_gram in booster:
                            valence = valence + booster[n_gram]
        # _least_check
        if i > 1 and words[i - 1] not in lexicon and words[i - 1] == "least":
            if words[i - 2] != "at" and words[i - 2] != "very":
                valence = valence * n_scalar
        elif i > 0 and words[i - 1] not in lexicon and words[i - 1] == "least":
            valence = valence * n_scalar
        return valence

    def compound(text: str) -> float:
        text = text.strip()
        low = text.lower()
        words = list(map(vader_words.__getitem__, low.split()))
        if scoring_words.isdisjoint(words):
            return 0.0  # every valence is 0: sum 0, no emphasis, normalize(0.0) == 0.0 (also for no words)
        n = len(words)
        # polarity_scores' loop: 0 for boosters and words outside the lexicon, the lexicon's valence
        # for the rest as a start (then the rules, where any can apply).
        sentiments: list[float] = list(map(scoring.get, words, zeros))
        raw: list[str] | None = None  # original-case tokens, for isupper(), when needed
        upper: list[int] = []  # indices of ALL-CAPS tokens
        is_cap_diff = False
        if low != text:  # some upper-case letter
            raw = text.split()
            upper = list(compress(range(n), map(str.isupper, raw)))
            is_cap_diff = 0 < len(upper) < n  # allcap_differential
        if "n't" in low or not rule_words.isdisjoint(words) or pair_search(" ".join(words)) is not None:
            all_rules = "n't" in low or pair_search(" ".join(words)) is not None
            last = n - 1
            for i in [i for i, v in enumerate(sentiments) if v]:
                item = words[i]
                if item == "kind" and i < last and words[i + 1] == "of":
                    sentiments[i] = 0  # "kind of" is a dampener, not a lexicon word
                elif all_rules or item in rule_words or not rule_words.isdisjoint(words[max(i - 3, 0):i]) \
                        or (is_cap_diff and raw[i].isupper()):  # type: ignore[index]
                    sentiments[i] = valence(i, words, raw, is_cap_diff)
        elif is_cap_diff:
            for i in upper:
                if sentiments[i]:
                    sentiments[i] = valence(i, words, raw, is_cap_diff)
        if "but" in words:
            sentiments = but_check(words, sentiments)
        sum_s = float(sum(sentiments))
        if "!" in text or "?" in text:  # else the emphasis is 0.0, and adding it changes nothing
            punct_emph_amplifier = amplify_ep(text) + amplify_qm(text)
            if sum_s > 0:
                sum_s += punct_emph_amplifier
            elif sum_s < 0:
                sum_s -= punct_emph_amplifier
        return round(normalize(sum_s), 4)

    return compound
