"""VADER sentiment for transcript text: one ``(label, compound)`` per text.

Used twice: by the ``lexical`` analyzer (the customer's sentences) and to fill the
per-segment ``sentiment`` / ``sentiment_score`` columns of every call, so it has to be
cheap for thousands of segments: the analyzer (it loads a ~7,500-word lexicon) is built
once per process and shared, and repeated texts ("Okay.", "Thank you.") in one batch
are scored once.

Scores are VADER's own ``compound`` in [-1, 1], labelled with VADER's recommended
thresholds (``>= 0.05`` positive, ``<= -0.05`` negative, else neutral). No domain
tuning here: a segment's column means "what VADER says about this text".
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from callmine.insights.model import Sentiment

POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
_VADER_ALPHA = 15.0  # VADER's compound normalisation constant: x / sqrt(x^2 + alpha)

_lock = threading.Lock()
_analyzer = None


def _vader():  # -> SentimentIntensityAnalyzer (untyped library)
    """The process-wide analyzer, built on first use (import and lexicon load are lazy)."""
    global _analyzer
    if _analyzer is None:
        with _lock:  # two threads must not both pay for (or half-see) the lexicon load
            if _analyzer is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


def label_for(score: float) -> Sentiment:
    """``positive`` / ``negative`` / ``neutral`` by VADER's thresholds."""
    if score >= POSITIVE_AT:
        return "positive"
    if score <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def score_texts(texts: Sequence[str]) -> tuple[list[str], list[float]]:
    """Labels and compound scores, one each per text, in input order.

    Empty or whitespace-only texts are ``neutral`` / 0.0 without calling VADER.
    """
    vader = _vader()
    seen: dict[str, float] = {}
    scores: list[float] = []
    for text in texts:
        key = (text or "").strip()
        score = seen.get(key)
        if score is None:
            score = float(vader.polarity_scores(key)["compound"]) if key else 0.0
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
