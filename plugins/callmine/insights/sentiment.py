"""VADER sentiment for transcript text: one ``(label, compound)`` per text.

Used twice: by the ``lexical`` analyzer (the customer's sentences) and to fill the
per-segment ``sentiment`` / ``sentiment_score`` columns of every call, so it has to be
cheap for hundreds of thousands of segments a day: the analyzer (it loads a
~7,500-word lexicon) is built once per process and shared, repeated texts ("Okay.",
"Thank you.") are scored once (per call, or per batch with a shared ``cache``), and
``compound`` is computed by ``callmine.insights.vader_fast``: VADER 3.3.2's
``polarity_scores(text)["compound"]`` re-stated for ASCII text, exactly (same values,
same float operations in the same order), for a call's new texts at once (one
tokenization, then numpy; the rules only where they can act). Non-ASCII texts (emoji
are translated to lexicon words by VADER) and any other VADER version go through the
library itself. ``tests/unit/insights/test_sentiment_fast_path.py`` and
``test_sentiment_batch.py`` compare both on many texts.

Scores are VADER's own ``compound`` in [-1, 1], labelled with VADER's recommended
thresholds (``>= 0.05`` positive, ``<= -0.05`` negative, else neutral). No domain
tuning here: a segment's column means "what VADER says about this text".
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, MutableMapping, Sequence
from itertools import compress, repeat
from operator import is_

from callmine.insights.model import Sentiment
from callmine.insights.vader_fast import fast_vader

POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
_VADER_ALPHA = 15.0  # VADER's compound normalisation constant: x / sqrt(x^2 + alpha)
_FAST_VADER_VERSION = "3.3.2"  # the release vader_fast re-states; any other uses the library
_BATCH_FROM = 16  # new texts in one call from which scoring them at once beats one by one

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
    fast = fast_vader(lexicon, vs)
    if fast is None:
        return library
    one, many_ascii = fast.one, fast.many

    def score(text: str) -> float:
        return one(text) if text.isascii() else library(text)

    def many(keys: list[str]) -> list[float]:
        """``score`` of each stripped text ("" is 0.0): the ASCII ones as one batch."""
        if all(keys) and "".join(keys).isascii():  # the usual call: one batch, nothing to sort out
            return many_ascii(keys)
        scores = [library(key) if key and not key.isascii() else 0.0 for key in keys]
        at = [k for k, key in enumerate(keys) if key and key.isascii()]
        for k, value in zip(at, many_ascii([keys[k] for k in at])):
            scores[k] = value
        return scores

    score.many = many  # type: ignore[attr-defined]  # score_texts' batch entry
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
    try:
        keys = list(map(str.strip, texts))
    except TypeError:  # a None (or other non-str) text: the general form
        keys = [(text or "").strip() for text in texts]
    scores: list[float | None] = list(map(seen.get, keys))
    # C-level loops from here on: a call has hundreds of segments, a batch hundreds of thousands.
    missing = list(dict.fromkeys(compress(keys, map(is_, scores, repeat(None)))))
    if missing:
        many = getattr(compound, "many", None)
        if many is None or len(missing) < _BATCH_FROM:
            fresh = [compound(key) if key else 0.0 for key in missing]
        else:
            fresh = many(missing)
        if type(seen) is dict:  # the usual cache: it keeps what it is given
            seen.update(zip(missing, fresh))
            scores = list(map(seen.__getitem__, keys))
        else:
            new = dict(zip(missing, fresh))
            seen.update(new)
            scores = list(map(new.get, keys, scores))  # the new score, else the cached one
    return list(map(_LABELS.__getitem__, scores)), scores  # type: ignore[arg-type]  # no None left


class _Labels(dict):
    """compound -> ``label_for(compound)``, memoized: VADER rounds compounds, so few distinct ones."""

    __slots__ = ()

    def __missing__(self, score: float) -> Sentiment:
        if len(self) >= 1 << 15:  # a scorer that does not round: stay small
            self.clear()
        self[score] = label = label_for(score)
        return label


_LABELS = _Labels()


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
