"""PyAI Omni call transcripts: calls PyAI's voice agent handled, already transcribed.

Contract (provider-contracts §2): ``GET /v1/omni/calls`` lists call records (scope
``omni:read``); ``GET /v1/omni/calls/{call_id}/transcript`` answers ``{object:
"omni.call.transcript", call_id, transcript}``, ``transcript`` being ``{turns: [{role:
user|assistant, text, start_ms?, end_ms?}]}`` or, for legacy sessions, a plain string.
A 404 problem means no transcript (yet): ask again later, never record it as empty.

Same API host and key as Hear jobs, so this builds on ``PyAIHook``: its connection,
endpoint, timeout and retry settings. The hook has no public generic GET, so the small
retry loop here follows the hook's policy with its public ``backoff``/``max_attempts``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

import httpx


from callmine.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    error_from_response,
)
from callmine.hooks.pyai import PyAIHook
from callmine.providers.base import FetchedTranscript
from callmine.recordings import Recording, make_call_id
from callmine.retry import retrying
from callmine.roles import AGENT, CUSTOMER
from callmine.transcript import Diarization, Segments, Transcript, build_transcript

log = logging.getLogger(__name__)

CALLS_PATH = "/v1/omni/calls"
TRANSCRIPT_OBJECT = "omni.call.transcript"
SOURCE_SCHEME = "pyai-omni://calls/"
AGENT_SPEAKER, CUSTOMER_SPEAKER = "speaker_0", "speaker_1"
_SPEAKER_OF_ROLE = {"assistant": AGENT_SPEAKER, "user": CUSTOMER_SPEAKER}
_ROLE_OF_SPEAKER = {AGENT_SPEAKER: AGENT, CUSTOMER_SPEAKER: CUSTOMER}
_LEGACY_LINE = re.compile(r"(user|assistant)\s*:\s*(.*)", re.IGNORECASE | re.DOTALL)
_EPOCH = re.compile(r"\d+(\.\d+)?")


@dataclass(frozen=True, slots=True)
class OmniCall:
    """One listed call record. **Assumed** fields: ``call_id`` and ``created_at``."""

    call_id: str
    created_at: datetime  # aware, UTC
    record: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the item as listed


@dataclass(frozen=True, slots=True)
class OmniTurn:
    role: str  # "assistant" | "user"
    text: str
    start_ms: float | None = None
    end_ms: float | None = None


@dataclass(frozen=True, slots=True)
class OmniTranscript:
    call_id: str
    turns: tuple[OmniTurn, ...] = ()  # speech turns only (user/assistant, non-empty text)
    legacy_text: str | None = None  # legacy sessions: one plain string instead of turns

    @property
    def timed(self) -> bool:
        """True when every turn has both times (a single untimed turn makes all untimed)."""
        return bool(self.turns) and all(t.start_ms is not None and t.end_ms is not None for t in self.turns)


class OmniClient:
    """Lists a day's Omni calls and reads their transcripts over the ``pyai_default`` connection."""

    def __init__(
        self, hook: PyAIHook | None = None, conn_id: str = "pyai_default", *,
        page_size: int = 100, max_pages: int = 1000,
    ) -> None:
        self.hook = hook or PyAIHook(conn_id)
        self.page_size = page_size
        self.max_pages = max_pages  # a bound: a server that never stops paging must not hang a task
        self._client: httpx.Client | None = None

    @property
    def conn_id(self) -> str:
        return self.hook.pyai_conn_id

    def list_calls(self, day: date) -> list[OmniCall]:
        """Calls created within the UTC ``day``, newest first (the listing's order)."""
        start = datetime.combine(day, time.min, tzinfo=UTC)
        end = start + timedelta(days=1)
        ep = self.hook.get_endpoint()
        found: dict[str, OmniCall] = {}  # by call_id: a call may reappear if pages shift
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(self.max_pages):
            params: dict[str, Any] = {"limit": self.page_size}
            if cursor:
                params["cursor"] = cursor
            page = self._get(ep.base_url + CALLS_PATH, what="list omni calls", headers=ep.auth_headers(), params=params).json()
            if not isinstance(page, dict):
                raise ProviderError(f"list omni calls: expected a page object, got {type(page).__name__}")
            items = [_parse_call(item) for item in page.get("data") or []]
            for call in items:
                if start <= call.created_at < end:
                    found.setdefault(call.call_id, call)
            # Newest first: once a page reaches before the day, later pages are older still.
            # The whole page is read first, so slight disorder within a page loses nothing.
            cursor = page.get("next_cursor")
            if any(c.created_at < start for c in items) or not page.get("has_more") or not cursor:
                return list(found.values())
            if cursor in seen:
                raise ProviderError("list omni calls: the server repeated a cursor")
            seen.add(cursor)
        raise ProviderError(f"list omni calls: {day} needs more than {self.max_pages} pages (raise max_pages)")

    def fetch_transcript(self, call_id: str) -> OmniTranscript | None:
        """The call's transcript, or None when the service has none (yet): ask again later."""
        ep = self.hook.get_endpoint()
        url = f"{ep.base_url}{CALLS_PATH}/{quote(call_id, safe='')}/transcript"
        try:
            body = self._get(url, what=f"get omni transcript of {call_id}", headers=ep.auth_headers()).json()
        except NotFoundError:
            return None  # failed before any speech, or not pushed yet: never an empty transcript
        if not isinstance(body, dict):
            raise ProviderError(f"omni transcript of {call_id}: expected an object, got {type(body).__name__}")
        document = body.get("transcript")
        if _is_empty(document) and body.get("transcript_url"):
            # Offloaded: a signed URL on another host, fetched WITHOUT the API key.
            document = self._fetch_offloaded(str(body["transcript_url"]), call_id)
        if document is None or document == "" or document == {}:
            raise ProviderError(f"omni transcript of {call_id} has neither transcript nor transcript_url")
        return parse_transcript(call_id, document)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> OmniClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP -----------------------------------------------------------------------
    def _fetch_offloaded(self, url: str, call_id: str) -> Any:
        response = self._get(url, what=f"fetch offloaded omni transcript of {call_id}", api=False)
        try:
            document = response.json()
        except ValueError:
            return response.text  # a legacy plain-text transcript stored as is
        if isinstance(document, dict) and "transcript" in document and "turns" not in document:
            return document.get("transcript")  # the whole envelope was offloaded
        return document

    def _get(self, url: str, *, what: str, headers: dict[str, str] | None = None,
             params: dict[str, Any] | None = None, api: bool = True) -> httpx.Response:
        """GET with the hook's retry policy: 429/5xx/transport retried, final errors raised."""
        if self._client is None:
            self._client = httpx.Client(timeout=self.hook.timeout, follow_redirects=False)
        client = self._client
        try:
            for attempt in retrying(self.hook.backoff, self.hook.max_attempts, what=what, log=log):
                with attempt:
                    try:
                        response = client.get(url, headers=headers, params=params)
                    except httpx.TransportError as exc:  # the server may never have seen the request
                        raise ProviderUnavailableError(f"{what} failed: {type(exc).__name__}") from exc
                    if response.is_success:
                        return response
                    raise error_from_response(response.status_code, _decode(response), dict(response.headers),
                                              what=what)
        except ProviderError as error:
            raise (self._named(error) if api else error) from None
        raise AssertionError("unreachable")

    def _named(self, error: ProviderError) -> ProviderError:
        """Key refusals name the Airflow connection to fix (never the key itself)."""
        if not isinstance(error, (AuthenticationError, PermissionDeniedError)):
            return error
        hint = "check its API key" if isinstance(error, AuthenticationError) else "its key needs scope omni:read"
        message = f"PyAI connection {self.conn_id!r} was refused ({hint}): {error}"
        key = self.hook.get_endpoint().api_key
        if key:
            message = message.replace(key, "***")
        return type(error)(message, status=error.status, code=error.code, request_id=error.request_id)


# -- documents -> values ----------------------------------------------------------------
def parse_created_at(value: Any) -> datetime:
    """**Assumed** ``created_at``: ISO 8601 (naive means UTC) or epoch seconds (number or digits)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if _EPOCH.fullmatch(text):
            return datetime.fromtimestamp(float(text), tz=UTC)
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ValueError(f"not a timestamp: {value!r}")


def _parse_call(item: Any) -> OmniCall:
    if not isinstance(item, dict) or not item.get("call_id"):
        raise ProviderError(f"list omni calls: an item has no call_id: {str(item)[:200]}")
    try:
        created_at = parse_created_at(item.get("created_at"))
    except (ValueError, OverflowError, OSError) as exc:
        raise ProviderError(f"list omni calls: call {item['call_id']} has no usable created_at ({exc})") from exc
    return OmniCall(call_id=str(item["call_id"]), created_at=created_at, record=item)


def parse_transcript(call_id: str, document: Any) -> OmniTranscript:
    """A ``transcript`` value (object with ``turns``, or a legacy string) as an ``OmniTranscript``."""
    if isinstance(document, str):
        return OmniTranscript(call_id, legacy_text=document)
    turns = document.get("turns") if isinstance(document, dict) else None
    if not isinstance(turns, list):
        raise ProviderError(f"omni transcript of {call_id}: expected turns or a string, got {str(document)[:200]}")
    kept: list[OmniTurn] = []
    for raw in turns:
        if not isinstance(raw, dict):
            raise ProviderError(f"omni transcript of {call_id}: a turn is not an object: {str(raw)[:200]}")
        role = str(raw.get("role") or "").lower()
        text = str(raw.get("text") or "").strip()
        if role in _SPEAKER_OF_ROLE and text:  # tool/system turns and empty turns are not speech
            kept.append(OmniTurn(role, text, _ms(raw.get("start_ms")), _ms(raw.get("end_ms"))))
    return OmniTranscript(call_id, tuple(kept))


def omni_transcript_to_fetched(t: OmniTranscript) -> FetchedTranscript:
    """Turns -> segments (seconds), ``speaker_0`` = assistant (agent), ``speaker_1`` = user.

    Times only when every turn has both; otherwise all untimed (never invented). No
    words: Omni gives none, and spreading a turn's time over its words would invent times.
    """
    if t.legacy_text is not None:
        rows = [(role, text, None, None) for role, text in _legacy_lines(t.legacy_text)]
    else:
        rows = [(turn.role, turn.text, turn.start_ms, turn.end_ms) for turn in t.turns]
    timed = bool(rows) and t.timed
    speakers = [_SPEAKER_OF_ROLE.get(role or "", AGENT_SPEAKER) for role, *_ in rows]
    segments = Segments(
        start=[s / 1000.0 if timed else None for _, _, s, _ in rows],  # type: ignore[misc]
        end=[e / 1000.0 if timed else None for _, _, _, e in rows],  # type: ignore[misc]
        text=[text for _, text, _, _ in rows],
        speaker=speakers,
        channel=[None] * len(rows),
    )
    labels = {_SPEAKER_OF_ROLE[role]: role for role, *_ in rows if role}
    transcript = build_transcript(
        diarization=Diarization.MODEL, segments=segments, word_start=[], word_end=[], word_text=[],
        word_speaker=[], word_confidence=[], speaker_labels=labels,
    )
    return FetchedTranscript(transcript=transcript)


def omni_roles(transcript: Transcript | FetchedTranscript) -> dict[str, str]:
    """Speaker key -> ``agent`` (the assistant) / ``customer`` (the user): known, not guessed."""
    t = transcript.transcript if isinstance(transcript, FetchedTranscript) else transcript
    return {s: _ROLE_OF_SPEAKER[s] for s in t.speakers if s in _ROLE_OF_SPEAKER}


def omni_recording(call: OmniCall, day: date, transcript: OmniTranscript | None = None) -> Recording:
    """The call's identity for the calls table: ``pyai-omni://calls/<call_id>``, a stable call_id."""
    source_uri = SOURCE_SCHEME + call.call_id
    duration = None
    if transcript is not None and transcript.timed:
        duration = max(turn.end_ms or 0.0 for turn in transcript.turns) / 1000.0
    return Recording(
        call_id=make_call_id(source_uri), source_uri=source_uri, call_date=day.isoformat(), format="omni",
        modified_at=call.created_at.isoformat(), duration_s=duration, channels=None,
    )


def _legacy_lines(text: str) -> list[tuple[str | None, str]]:
    """One (role, text) per non-empty line; "User: ..." / "assistant: ..." keep their role."""
    out: list[tuple[str | None, str]] = []
    for line in text.splitlines():
        line = line.strip()
        match = _LEGACY_LINE.fullmatch(line)
        if match:
            if match.group(2).strip():
                out.append((match.group(1).lower(), match.group(2).strip()))
        elif line:
            out.append((None, line))  # unlabeled: speaker_0 (the agent), no label
    return out


def _is_empty(document: Any) -> bool:
    return document in (None, "", {}) or (isinstance(document, dict) and not document.get("turns"))


def _ms(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]
