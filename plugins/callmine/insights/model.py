"""The insights model: what an analyzer reads (a call's turns) and what it returns.

Both analyzers (``lexical`` offline, ``llm`` over any OpenAI-compatible chat endpoint)
read a :class:`CallText` and return an :class:`InsightsResult`; the warehouse rows are
built from that, so a column means the same whichever analyzer filled it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

PHASE_NAMES: tuple[str, ...] = ("Introduction", "Complaint", "Resolution", "Goodbye", "Other")
PhaseName = Literal["Introduction", "Complaint", "Resolution", "Goodbye", "Other"]
Sentiment = Literal["positive", "neutral", "negative"]
Level = Literal["low", "medium", "high"]
Resolution = Literal["resolved", "partially_resolved", "unresolved"]


@dataclass(frozen=True, slots=True)
class Turn:
    """One segment of a call as an analyzer sees it. Times are None for untimed providers."""

    segment_idx: int
    speaker: str
    role: str | None
    start_s: float | None
    end_s: float | None
    text: str

    @property
    def label(self) -> str:
        """``agent (ch0)`` when the role is known, else the speaker key."""
        return f"{self.role} ({self.speaker})" if self.role else self.speaker


@dataclass(frozen=True, slots=True)
class CallText:
    """A call's speaker-labelled transcript, segments in time order."""

    call_id: str
    duration_s: float | None
    turns: tuple[Turn, ...]
    transcript_hash: str = ""  # identifies the transcript the insights were made from

    def render(self, turns: tuple[Turn, ...] | None = None) -> str:
        """One line per turn, ``[12.3s-15.0s] agent (ch0): text``: the LLM prompt's transcript."""
        lines = []
        for t in self.turns if turns is None else turns:
            when = f"[{t.start_s:.1f}s-{t.end_s:.1f}s] " if t.start_s is not None and t.end_s is not None else ""
            lines.append(f"{when}{t.label}: {t.text}")
        return "\n".join(lines)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class ActionItem(_Strict):
    text: str = Field(min_length=1)
    speaker: str | None = None  # speaker key (ch0, speaker_1...) or role, when known
    start_s: float | None = None


class Phase(_Strict):
    name: PhaseName
    start_s: float
    end_s: float
    summary: str = ""


class Dimensions(_Strict):
    """The nine call-analysis dimensions besides sentiment and action items (kept on CallInsights)."""

    intent: str | None = None
    resolution: Resolution | None = None
    agent_performance: str | None = None
    escalation_risk: Level | None = None
    key_topics: list[str] = Field(default_factory=list)
    compliance: str | None = None
    satisfaction_score: int | None = Field(default=None, ge=1, le=10)


class CallInsights(_Strict):
    summary: str | None = None
    action_items: list[ActionItem] = Field(default_factory=list)
    sentiment: Sentiment | None = None  # the customer's
    sentiment_score: float | None = Field(default=None, ge=-1.0, le=1.0)
    phases: list[Phase] = Field(default_factory=list)
    dimensions: Dimensions = Field(default_factory=Dimensions)

    @field_validator("sentiment", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


@dataclass(slots=True)
class InsightsResult:
    """One call's analysis: insights, or an error and no invented fields."""

    call_id: str
    analyzer: str  # "lexical" | "llm" | "callmissed"
    model: str
    prompt_version: str
    transcript_hash: str
    insights: CallInsights | None = None
    error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    answered_turns: list[int] = field(default_factory=list)  # reserved for citations


class Analyzer(Protocol):
    """Turns a call's text into insights. ``lexical`` is sync; ``llm`` has ``aanalyze``."""

    name: str
    model: str
    prompt_version: str

    def analyze(self, call: CallText) -> InsightsResult: ...


def normalize_phases(phases: list[Phase], duration_s: float | None) -> list[Phase]:
    """Clip to the call, order, make contiguous, and fill gaps with ``Other``.

    Both analyzers' phases go through this, so ``phases`` always tiles [0, duration]
    (or [first start, last end] when the duration is unknown) with no overlap.
    """
    end_of_call = duration_s if duration_s and duration_s > 0 else max((p.end_s for p in phases), default=0.0)
    clipped = []
    for p in sorted(phases, key=lambda p: (p.start_s, p.end_s)):
        start, end = max(0.0, p.start_s), min(end_of_call, p.end_s)
        if end > start:
            clipped.append(p.model_copy(update={"start_s": start, "end_s": end}))
    out: list[Phase] = []
    cursor = 0.0
    for p in clipped:
        if p.start_s < cursor:  # overlap: the earlier phase keeps its time
            if p.end_s <= cursor:
                continue
            p = p.model_copy(update={"start_s": cursor})
        if p.start_s > cursor + 0.5:
            out.append(Phase(name="Other", start_s=cursor, end_s=p.start_s, summary=""))
        elif p.start_s != cursor:
            p = p.model_copy(update={"start_s": cursor})  # close a sub-second gap
        if out and out[-1].name == p.name:
            out[-1] = out[-1].model_copy(update={"end_s": p.end_s, "summary": _join(out[-1].summary, p.summary)})
        else:
            out.append(p)
        cursor = p.end_s
    if out and end_of_call - cursor > 0.5:
        out.append(Phase(name="Other", start_s=cursor, end_s=end_of_call, summary=""))
    elif out:
        out[-1] = out[-1].model_copy(update={"end_s": end_of_call})
    return out


def _join(a: str, b: str) -> str:
    return " ".join(x for x in (a, b) if x)
