"""The ``callmissed`` provider: CallMissed call analytics (a request provider).

One upload answers with everything: a speaker-labelled transcript without timestamps
(``SPEAKER_1: text`` lines), talk seconds per speaker, a nine-dimension analysis written
by an LLM (``Name: value`` lines, in whatever shape the LLM chose) and a summary.
Segments stay untimed (CallMissed gives no times and none are invented); speakers become
``speaker_0``, ``speaker_1``... in order of first appearance, the service's labels kept.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from callmine.errors import ProviderError, outcome_of
from callmine.hooks.callmissed import CallMissedHook
from callmine.insights.model import ActionItem, CallInsights, Dimensions
from callmine.providers.base import AudioSource, Fatal, FetchedTranscript, JobRequest, Rejected, RequestProvider, RetryLater
from callmine.transcript import Diarization, Segments, TranscriptError, build_transcript, model_speaker

ACCEPTED_FORMATS = ("wav", "mp3", "mp4", "m4a", "ogg", "flac", "webm", "aac", "amr")
MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # "max 100 MB" (read as MiB: assumed)

_TURN = re.compile(r"^[\s*_>-]*(speaker[\s_-]*\d+)[\s*_]*:\s*(.*)$", re.IGNORECASE)
# "- **Name:** value", "1. Name : value", "Name - value": bullet, name, separator, value.
_FIELD_LINE = re.compile(r"^(?:[-*•·>#]+|\d+[.)])?\s*(?P<name>[^:=]{1,60}?)\s*(?::|=|\s[-–—]\s)\s*(?P<value>.*)$")
_BULLET = re.compile(r"^\s*(?:[-*•·]+|\d+[.)])\s+")
_NAMES = {
    "sentiment": ("sentiment", "customer sentiment", "caller sentiment", "overall sentiment"),
    "intent": ("intent", "customer intent", "caller intent", "call intent", "call purpose", "purpose"),
    "resolution": ("resolution", "resolution status", "call resolution", "issue resolution"),
    "agent_performance": ("agent performance", "agent performance rating", "performance"),
    "escalation_risk": ("escalation risk", "escalation", "risk of escalation"),
    "key_topics": ("key topics", "topics", "main topics", "key topic"),
    "action_items": ("action items", "action item", "next steps", "follow ups", "follow up actions"),
    "compliance": ("compliance", "compliance status", "compliance check"),
    "satisfaction_score": ("satisfaction score", "satisfaction", "customer satisfaction",
                           "customer satisfaction score", "csat", "csat score"),
    "summary": ("summary", "call summary"),
}
_FIELD_OF = {name: key for key, names in _NAMES.items() for name in names}
_UNKNOWN = {"", "n/a", "na", "none", "unknown", "not applicable", "not available", "not specified", "-", "tbd"}
_SENTIMENT = (("negative", r"negative|frustrated|angry|upset|dissatisfied|unhappy|annoyed|not (?:satisfied|happy)"),
              ("positive", r"positive|satisfied|happy|pleased|delighted"),
              ("neutral", r"neutral|mixed|calm|indifferent"))
_RESOLUTION = (("partially_resolved", r"partial(?:ly)?"),
               ("unresolved", r"unresolved|not (?:yet )?resolved|no resolution|pending|open|no"),
               ("resolved", r"resolved|solved|fixed|yes|complete[d]?"))
_LEVEL = (("high", r"high|elevated|severe|critical"), ("medium", r"medium|moderate|mid"),
          ("low", r"low|minimal|minor|none|no risk"))
_NUMBER_WORDS = {w: i for i, w in enumerate("one two three four five six seven eight nine ten".split(), start=1)}


class CallMissedProvider(RequestProvider):
    name = "callmissed"
    default_conn_id = "callmissed_default"
    service = "CallMissed"

    def __init__(self, conn_id: str | None = None, hook: CallMissedHook | None = None) -> None:
        self.hook = hook or CallMissedHook(conn_id or self.default_conn_id)
        self.conn_id = self.hook.callmissed_conn_id

    def check(self, filename: str, size_bytes: int | None) -> Rejected | None:
        ext = Path(filename).suffix.lower().lstrip(".")
        if ext not in ACCEPTED_FORMATS:
            return Rejected(f"CallMissed accepts {', '.join(f.upper() for f in ACCEPTED_FORMATS)} files, not "
                            f"{('.' + ext) if ext else 'a file without extension'}: convert the recording first")
        if size_bytes is not None and size_bytes > MAX_UPLOAD_BYTES:
            return Rejected(f"{filename} is {size_bytes / 1048576:.1f} MB, over CallMissed's 100 MB upload limit")
        return None

    def async_client(self) -> httpx.AsyncClient:
        return self.hook.async_client()

    async def arequest(self, client: httpx.AsyncClient, request: JobRequest,
                       audio: AudioSource) -> dict[str, Any] | Rejected | RetryLater | Fatal:
        content = audio.content
        if content is None:  # the request trigger always reads the recording for us
            return Fatal(f"CallMissed uploads the recording: it needs its bytes, not only {audio.url!r}")
        refused = self.check(audio.filename, len(content))
        if refused is not None:
            return refused
        try:
            await self.hook.aget_endpoint()
        except ProviderError as error:  # no connection, no host, no token: an operator must act
            return Fatal(str(error))
        try:
            return await self.hook.aanalyze(client, audio.filename, content, request.language)
        except ProviderError as error:
            return outcome_of(error, self.conn_id)

    def parse(self, raw: dict[str, Any], request: JobRequest, duration_s: float | None) -> FetchedTranscript:
        if not isinstance(raw, dict) or not isinstance(raw.get("transcript"), str):
            raise TranscriptError("CallMissed answer has no transcript text")
        labels: dict[str, str] = {}  # service label -> canonical key, in order of first appearance
        segments = Segments()
        for label, text in _turns(raw["transcript"]):
            if label is None and len(segments):  # an unlabelled line continues the previous turn
                segments.text[-1] = f"{segments.text[-1]} {text}"
                continue
            key = labels.setdefault(label or "UNLABELLED", model_speaker(len(labels)))
            segments.start.append(None)  # type: ignore[arg-type]  # untimed: never invented
            segments.end.append(None)  # type: ignore[arg-type]
            segments.text.append(text)
            segments.speaker.append(key)
            segments.channel.append(None)
        talk = _speaker_timing(raw.get("speaker_timing"), labels)
        transcript = build_transcript(
            diarization=Diarization.MODEL, segments=segments, word_start=[], word_end=[], word_text=[],
            word_speaker=[], word_confidence=[], speaker_labels={key: label for label, key in labels.items()},
            audio_seconds=duration_s, duration_s=duration_s,
        )
        return FetchedTranscript(
            transcript=transcript,
            billed_seconds=round(sum(talk.values()), 3) if talk else None,
            insights=parse_analysis(str(raw.get("analysis") or ""), raw.get("summary")),
            speaker_talk_s=talk or None,
        )


def _label(text: str) -> str:
    """``Speaker 1`` / ``speaker-1`` / ``SPEAKER_1`` -> ``SPEAKER_1``."""
    return "SPEAKER_" + re.sub(r"\D", "", text).lstrip("0").rjust(1, "0")


def _turns(transcript: str) -> list[tuple[str | None, str]]:
    turns: list[tuple[str | None, str]] = []
    for line in transcript.splitlines():
        if not line.strip():
            continue
        match = _TURN.match(line)
        if match is None:
            turns.append((None, line.strip()))
        elif text := match.group(2).strip().lstrip("*_").strip():  # "**SPEAKER_1:** text"
            turns.append((_label(match.group(1)), text))
    return turns


def _speaker_timing(timing: Any, labels: dict[str, str]) -> dict[str, float]:
    """Talk seconds by canonical speaker; speakers heard only here get the next keys."""
    talk: dict[str, float] = {}
    items = timing.items() if isinstance(timing, dict) else []
    for label, seconds in sorted(items, key=lambda item: int(_label(str(item[0]))[8:])):
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0:
            key = labels.setdefault(_label(str(label)), model_speaker(len(labels)))
            talk[key] = float(seconds)
    return talk


# -- the analysis text ---------------------------------------------------------------------


def _clean(text: str) -> str:
    text = _BULLET.sub("", text).replace("**", "").replace("__", "").strip(" \t*_`\"'")
    return " ".join(text.split())


def _fields(analysis: str) -> dict[str, list[str]]:
    """Field -> its value lines: the "Name: value" line's value, then lines continuing it."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in analysis.splitlines():
        if not line.strip():
            continue
        match = _FIELD_LINE.match(line.strip())
        name = _clean(match.group("name")).lower() if match else ""
        name = re.sub(r"\s*\(.*\)$", "", name).replace("-", " ").strip()  # "Satisfaction Score (1-10)"
        field = _FIELD_OF.get(name)
        if field is not None:
            current = field if field not in found else None  # the first mention wins
            if current:
                found[current] = [match.group("value")] if _clean(match.group("value")) else []
        elif current and (match is None or _BULLET.match(line)):
            found[current].append(line)
        else:  # a "Name: value" line we do not know ends the current field
            current = None
    return found


def _text(lines: list[str]) -> str | None:
    text = _clean(" ".join(_clean(line) for line in lines))
    return None if text.lower().rstrip(".") in _UNKNOWN else text


def _first(lines: list[str], table: tuple[tuple[str, str], ...]) -> str | None:
    """The category whose pattern appears earliest in the text (None when none does)."""
    text = (_text(lines) or "").lower()
    hits = [(m.start(), value) for value, pattern in table if (m := re.search(rf"\b(?:{pattern})\b", text))]
    return min(hits)[1] if hits else None


def _score(lines: list[str]) -> int | None:
    text = (_text(lines) or "").lower()
    if m := re.search(r"(\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+)", text):
        value = float(m.group(1)) * 10 / float(m.group(2)) if float(m.group(2)) else 0.0
    elif m := re.search(r"(\d+(?:\.\d+)?)\s*%", text):
        value = float(m.group(1)) / 10
    elif m := re.search(r"\d+(?:\.\d+)?", text):
        value = float(m.group(0))
    elif m := re.search(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", text):
        value = float(_NUMBER_WORDS[m.group(1)])
    else:
        return None
    score = int(value + 0.5)
    return score if 1 <= score <= 10 else None


def _items(lines: list[str], *, commas: bool) -> list[str]:
    """List items: one per line or bullet, split on semicolons (and commas where asked)."""
    items = []
    for line in lines:
        parts = re.split(r";", line)
        if commas or (len(parts) == 1 and line.count(",") >= 2):  # "a, b, c" is a list, "a, then b" is not
            parts = [p for part in parts for p in part.split(",")]
        items += [item for p in parts if (item := _clean(p).rstrip(".").strip()) and item.lower() not in _UNKNOWN]
    return items


def parse_analysis(analysis: str, summary: Any = None) -> CallInsights:
    """The nine dimensions as typed fields; anything missing or unrecognizable stays None / empty."""
    f = _fields(analysis)
    get = lambda name: f.get(name, [])  # noqa: E731
    summary_text = str(summary).strip() if isinstance(summary, str) and summary.strip() else _text(get("summary"))
    return CallInsights(
        summary=summary_text,
        sentiment=_first(get("sentiment"), _SENTIMENT),  # type: ignore[arg-type]
        action_items=[ActionItem(text=item) for item in _items(get("action_items"), commas=False)],
        dimensions=Dimensions(
            intent=_text(get("intent")),
            resolution=_first(get("resolution"), _RESOLUTION),  # type: ignore[arg-type]
            agent_performance=_text(get("agent_performance")),
            escalation_risk=_first(get("escalation_risk"), _LEVEL),  # type: ignore[arg-type]
            key_topics=_items(get("key_topics"), commas=True),
            compliance=_text(get("compliance")),
            satisfaction_score=_score(get("satisfaction_score")),
        ),
    )
