"""The ``lexical`` analyzer: call insights from cue phrases and word statistics, offline.

No language model and no network; deterministic. Each field is filled like this:

- ``sentiment`` / ``sentiment_score`` (the customer's): VADER compound per customer
  sentence (all sentences when no turn has role ``customer``), shifted by the
  complaint cues VADER's social-media lexicon misses (``COMPLAINT_CUES``), averaged
  weighted by word count x (1 + position in the call): the customer's mood at the end
  is the outcome, the opening complaint is why they called (that shows in phases and
  escalation_risk). Labelled at +-0.05. None when nobody said anything.
- ``action_items``: sentences matching ``ACTION_CUES`` (commitments, requests,
  deadlines next to an action verb), plus an offer ("I can add a discount") the other
  side accepts in the next turn. Questions count only as requests ("can you send me ...?").
  Deduplicated by text; speaker is the turn's speaker key, start_s the turn's start.
- ``summary``: up to 3 sentences by cosine to the call's TF-IDF centroid (stopwords
  removed) plus a bonus for complaint/remedy/commitment sentences; each speaker's best
  first, then the best that does not repeat them (MMR); in call order.
- ``phases``: monotone Introduction -> Complaint -> Resolution -> Goodbye over turns
  (see ``_phase_starts``), gaps ``Other``; boundaries at turn starts, then
  ``normalize_phases``. Each phase's summary is its most central sentence. Untimed
  calls get none. A Resolution needs a Complaint before it.
- ``dimensions.key_topics``: up to 5 most frequent content words (stopwords, numbers,
  names dropped).
- ``dimensions.escalation_risk``: customer cues and sentiment (``_escalation``).
- ``dimensions.resolution``: only when the customer complained (``_resolution``).
- ``intent``, ``agent_performance``, ``compliance``, ``satisfaction_score``: None; no
  honest lexical rule.

Never raises: an empty call gives empty insights, an unexpected failure an error result.
"""


from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from callmine.insights.lexical_cues import (
    ACCEPT, ACCEPT_REPLY, ACTION_CUES, CLOSING, COMPLAINT_CUES, DONE, ESCALATION_CHURN, ESCALATION_STRONG, INTRO,
    OFFER, REMEDY, content_terms, split, words,
)
from callmine.insights.model import (
    ActionItem, CallInsights, CallText, Dimensions, InsightsResult, Level, Phase, PhaseName, Resolution, Turn,
    normalize_phases,
)
from callmine.insights.sentiment import label_for, score_texts, shift_compound

NAME = "lexical"
MODEL = "callmine-lexical-1"
PROMPT_VERSION = "lexical-1"
AGENT, CUSTOMER = "agent", "customer"
CUE_BONUS = 0.25  # summary: added to a cue sentence's centrality (a cosine, 0..1); Edmundson's cue method
REDUNDANCY = 0.5  # summary: penalty per unit of overlap with a sentence already chosen (MMR)

Vector = dict[str, float]


@dataclass(frozen=True, slots=True)
class _Sentence:
    turn: int  # index into the analysed turns
    text: str
    terms: tuple[str, ...]  # content words, lowercased, plural folded


class LexicalAnalyzer:
    """Offline call insights from cue phrases, VADER and TF-IDF; see the module docstring."""

    name = NAME
    model = MODEL
    prompt_version = PROMPT_VERSION

    def analyze(self, call: CallText) -> InsightsResult:
        result = InsightsResult(call_id=call.call_id, analyzer=NAME, model=MODEL, prompt_version=PROMPT_VERSION,
                                transcript_hash=call.transcript_hash)
        try:
            result.insights = _insights(call)
        except Exception as exc:  # one odd call must not fail a batch; the row records why
            result.error = f"lexical analyzer failed: {type(exc).__name__}: {exc}"
        return result


def _insights(call: CallText) -> CallInsights:
    turns = tuple(t for t in call.turns if (t.text or "").strip())
    sentences = _sentences(turns)
    if not sentences:
        return CallInsights()
    vectors = _tfidf(sentences)
    commits = [_is_commitment(s.text) for s in sentences]
    # Edmundson's cue method: what went wrong and what was done matter beyond word overlap.
    salience = [c + CUE_BONUS * (commit or _complains(s.text) or bool(REMEDY.search(s.text)))
                for c, commit, s in zip(_centrality(vectors), commits, sentences)]
    score = _customer_sentiment(turns, sentences, call.duration_s)
    sentiment = None if score is None else label_for(score)
    complaint, remedy, starts = _phase_starts(turns)
    return CallInsights(
        summary=_summary(turns, sentences, vectors, salience),
        action_items=_action_items(turns, sentences, commits),
        sentiment=sentiment,
        sentiment_score=None if score is None else round(score, 4),
        phases=_phases(turns, sentences, salience, starts, call.duration_s),
        dimensions=Dimensions(
            key_topics=_key_topics(sentences),
            escalation_risk=_escalation(turns, sentiment),
            resolution=_resolution(turns, complaint, remedy),
        ),
    )


# --- text ---------------------------------------------------------------------------------------------------

def _sentences(turns: tuple[Turn, ...]) -> list[_Sentence]:
    return [_Sentence(i, text, content_terms(text)) for i, turn in enumerate(turns) for text in split(turn.text)]


def _tfidf(sentences: list[_Sentence]) -> list[Vector]:
    """Unit-length TF-IDF vectors, the call's sentences as the documents."""
    df = Counter(term for s in sentences for term in set(s.terms))
    idf = {term: math.log((1 + len(sentences)) / (1 + count)) + 1.0 for term, count in df.items()}
    return [_unit({t: c * idf[t] for t, c in Counter(s.terms).items()}) for s in sentences]


def _unit(vec: Vector) -> Vector:
    norm = math.sqrt(sum(v * v for v in vec.values()))
    return {t: v / norm for t, v in vec.items()} if norm else {}


def _dot(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())


def _centrality(vectors: list[Vector]) -> list[float]:
    """Cosine to the call's centroid: linear in the call's length, unlike pairwise LexRank."""
    centroid: Counter[str] = Counter()
    for vec in vectors:
        centroid.update(vec)
    unit = _unit(dict(centroid))
    return [_dot(vec, unit) for vec in vectors]


def _complains(text: str) -> bool:
    return any(rx.search(text) for rx, _ in COMPLAINT_CUES)


def _side(turns: tuple[Turn, ...], role: str) -> list[int]:
    """Indices of the turns spoken in ``role``; all turns when no turn has that role."""
    known = any(t.role == role for t in turns)
    return [i for i, t in enumerate(turns) if t.role == role or not known]


def _end_of_call(turns: tuple[Turn, ...], duration: float | None) -> float:
    if duration and duration > 0:
        return float(duration)
    return max((t.end_s if t.end_s is not None else t.start_s or 0.0 for t in turns), default=0.0)


# --- sentiment ----------------------------------------------------------------------------------------------

def _customer_sentiment(turns: tuple[Turn, ...], sentences: list[_Sentence], duration: float | None) -> float | None:
    customer = set(_side(turns, CUSTOMER))
    mine = [s for s in sentences if s.turn in customer]
    if not mine:
        return None
    _, scores = score_texts([s.text for s in mine])
    end = _end_of_call(turns, duration)
    total = weight_sum = 0.0
    for k, (s, compound) in enumerate(zip(mine, scores)):
        valence = sum(v for rx, v in COMPLAINT_CUES if rx.search(s.text))
        start = turns[s.turn].start_s
        position = start / end if start is not None and end > 0 else k / max(1, len(mine) - 1)
        # Longer sentences say more; later ones count up to double: the closing mood is the outcome.
        weight = max(1, len(s.text.split())) * (1.0 + min(1.0, max(0.0, position)))
        total += weight * shift_compound(compound, valence)
        weight_sum += weight
    return max(-1.0, min(1.0, total / weight_sum))


# --- action items -------------------------------------------------------------------------------------------

def _action_items(turns: tuple[Turn, ...], sentences: list[_Sentence], commits: list[bool]) -> list[ActionItem]:
    items: list[ActionItem] = []
    seen: set[str] = set()
    for s, commit in zip(sentences, commits):
        key = " ".join(words(s.text))
        if key in seen or not (commit or _is_accepted_offer(turns, s)):
            continue
        seen.add(key)
        turn = turns[s.turn]
        items.append(ActionItem(text=s.text, speaker=turn.speaker, start_s=turn.start_s))
    return items


def _is_commitment(text: str) -> bool:
    question = text.rstrip().endswith("?")
    return any(rx.search(text) for kind, rx in ACTION_CUES if kind == "request" or not question)


def _is_accepted_offer(turns: tuple[Turn, ...], s: _Sentence) -> bool:
    """An offer ("I can add a discount") the other side says yes to in the very next turn."""
    if not OFFER.search(s.text) or s.turn + 1 >= len(turns):
        return False
    reply = turns[s.turn + 1]
    return reply.speaker != turns[s.turn].speaker and bool(ACCEPT_REPLY.search(reply.text.strip()))


# --- phases -------------------------------------------------------------------------------------------------

def _phase_starts(turns: tuple[Turn, ...]) -> tuple[int | None, int | None, list[tuple[PhaseName, int]]]:
    """(complaint turn, remedy turn, [(phase, its first turn)]), a monotone sequence.

    Introduction: turn 0 if it greets or identifies (and is no customer complaint), plus
    next turns that only greet.
    Goodbye: the last turn if its last sentence closes (thanks, bye...), plus earlier
    turns that only close. Complaint: the first customer turn in between with a complaint
    cue. Resolution: the first later agent turn with a remedy (offer, refund, "I've fixed").
    Anything else between Introduction and the next phase is Other.
    """
    n, customer = len(turns), set(_side(turns, CUSTOMER))
    intro_end = 0
    if n and INTRO.search(turns[0].text) and not (0 in customer and _complains(turns[0].text)):
        intro_end = 1
        while intro_end < n and _only(INTRO, turns[intro_end]) and not _complains(turns[intro_end].text):
            intro_end += 1
    goodbye = n
    if n > intro_end and CLOSING.search(split(turns[-1].text)[-1]):
        goodbye = n - 1
        while goodbye - 1 >= intro_end and _only(CLOSING, turns[goodbye - 1]):
            goodbye -= 1
    complaint = next(
        (i for i in sorted(customer) if intro_end <= i < goodbye and _complains(turns[i].text)), None)
    remedy = None if complaint is None else next(
        (i for i in _side(turns, AGENT) if complaint < i < goodbye and REMEDY.search(turns[i].text)), None)
    starts: list[tuple[PhaseName, int]] = [("Introduction", 0)] if intro_end else []
    if intro_end < (goodbye if complaint is None else complaint):
        starts.append(("Other", intro_end))
    starts += [(name, i) for name, i in (("Complaint", complaint), ("Resolution", remedy)) if i is not None]
    if goodbye < n:
        starts.append(("Goodbye", goodbye))
    return complaint, remedy, starts


def _only(rx: re.Pattern[str], turn: Turn) -> bool:
    """Every sentence of the turn matches (a turn that only greets, or only says goodbye)."""
    return all(rx.search(part) for part in split(turn.text))


def _phases(turns: tuple[Turn, ...], sentences: list[_Sentence], salience: list[float],
            starts: list[tuple[PhaseName, int]], duration: float | None) -> list[Phase]:
    if not starts or any(t.start_s is None for t in turns):
        return []  # untimed provider: no honest boundaries
    bounds = [0.0] + [float(turns[first].start_s or 0.0) for _, first in starts[1:]]
    bounds.append(_end_of_call(turns, duration))
    phases = []
    for k, (name, first) in enumerate(starts):
        last = starts[k + 1][1] if k + 1 < len(starts) else len(turns)
        inside = [j for j, s in enumerate(sentences) if first <= s.turn < last]
        best = max(inside, key=lambda j: (salience[j], -j), default=None)
        summary = "" if best is None else sentences[best].text
        phases.append(Phase(name=name, start_s=bounds[k], end_s=bounds[k + 1], summary=summary))
    return normalize_phases(phases, duration)


# --- summary and dimensions ---------------------------------------------------------------------------------

def _summary(turns: tuple[Turn, ...], sentences: list[_Sentence], vectors: list[Vector], salience: list[float],
             size: int = 3) -> str | None:
    """Greedy MMR over salience: every speaker's best first, then the best not repeating them."""
    pool = [j for j, s in enumerate(sentences) if len(s.terms) >= 2]  # "Okay." or "Thanks." say nothing
    chosen: list[int] = []
    while pool and len(chosen) < size:
        heard = {turns[sentences[c].turn].speaker for c in chosen}
        candidates = [j for j in pool if turns[sentences[j].turn].speaker not in heard] or pool
        best = max(candidates, key=lambda j: (
            salience[j] - REDUNDANCY * max((_dot(vectors[j], vectors[c]) for c in chosen), default=0.0), -j))
        chosen.append(best)
        pool.remove(best)
    return " ".join(sentences[j].text for j in sorted(chosen)) or None


def _key_topics(sentences: list[_Sentence], size: int = 5) -> list[str]:
    """Most frequent content words; ties go to longer (usually more specific) words, then to the earlier."""
    counts = Counter(term for s in sentences for term in s.terms)  # keeps first-seen order; sorted() is stable
    return sorted(counts, key=lambda t: (-counts[t], -len(t)))[:size]


def _escalation(turns: tuple[Turn, ...], sentiment: str | None) -> Level | None:
    """Strong cue (manager, lawyer, complaint...), or churn cue + negative customer -> high;
    churn cue or negative -> medium; else low. A positive customer lowers it a level (mollified)."""
    said = [turns[i].text for i in _side(turns, CUSTOMER)]
    if not said:
        return None
    strong = any(ESCALATION_STRONG.search(t) for t in said)
    churn = any(ESCALATION_CHURN.search(t) for t in said)
    level = 2 if strong or (churn and sentiment == "negative") else 1 if churn or sentiment == "negative" else 0
    levels: tuple[Level, ...] = ("low", "medium", "high")
    return levels[max(0, level - 1) if sentiment == "positive" else level]


def _resolution(turns: tuple[Turn, ...], complaint: int | None, remedy: int | None) -> Resolution | None:
    """Only for calls with a complaint: resolved when the agent reports the remedy done or the
    customer takes it; partially_resolved when it was only offered; unresolved when none came."""
    if complaint is None:
        return None
    if remedy is None:
        return "unresolved"
    done = any(DONE.search(part) for i in _side(turns, AGENT) if i >= remedy for part in split(turns[i].text))
    taken = any(ACCEPT.search(turns[i].text) for i in _side(turns, CUSTOMER) if i > remedy)
    return "resolved" if done or taken else "partially_resolved"
