"""``callmine ask CALL_ID "question"``: answer a question about one call, citing its segments.

With an LLM: a JSON answer listing the segment indices it relied on, checked against the
call's segments (one repair round if it cites lines that do not exist). Without one:
:func:`best_matching_turns`, a keyword-overlap search over the turns.
"""

from __future__ import annotations

import os
import re
from typing import Any

import openai
from pydantic import BaseModel, Field

from callmine.hooks.llm import MODEL_ENV, LLMConfigurationError, LLMSettings
from callmine.insights import prompts
from callmine.insights.llm import JsonChat, LLMAnalyzer, UnusableAnswer, Usage
from callmine.insights.model import CallText, Turn

__all__ = ["Answer", "Citation", "ask", "best_matching_turns"]

DEFAULT_ASK_BUDGET_TOKENS = 24_000
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
STOPWORDS = frozenset(
    "a an the and or but if then so of to in on at by for with from about as into over after before is are was "
    "were be been being am do does did done have has had having i me my we our us you your he him his she her "
    "it its they them their this that these those there here what which who whom whose when where why how "
    "can could would should will shall may might must not no yes ok okay please just also very too any some "
    "all call caller say said tell told did didn't don't doesn't i'm it's that's".split()
)


class Citation(BaseModel):
    segment_idx: int
    start_s: float | None = None
    end_s: float | None = None


class Answer(BaseModel):
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    model: str | None = None
    error: str | None = None  # set when the LLM gave no usable answer (answer is then "")
    input_tokens: int = 0
    output_tokens: int = 0


class _Reply(BaseModel):
    answer: str
    segment_idxs: list[int] = Field(default_factory=list)


def _stem(word: str) -> str:
    """Crude suffix stripping so refund / refunds / refunded meet."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def keywords(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


def best_matching_turns(call: CallText, question: str, k: int = 5) -> list[Turn]:
    """Up to ``k`` turns sharing the most question keywords, best first; ties go to the earlier turn."""
    wanted = keywords(question)
    if not wanted:
        return []
    scored = [(len(wanted & keywords(t.text)), t) for t in call.turns]
    ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], _when(s[1]), s[1].segment_idx))
    return [t for _, t in ranked[:k]]


def _when(turn: Turn) -> float:
    return turn.start_s if turn.start_s is not None else float("inf")


def _context_turns(call: CallText, question: str, budget_tokens: int) -> tuple[Turn, ...]:
    """The whole call if it fits, else the best-matching turns with their neighbours, in time order."""
    if prompts.estimate_tokens(call.render()) <= budget_tokens:
        return call.turns
    position = {t.segment_idx: i for i, t in enumerate(call.turns)}
    picked: set[int] = set()
    used = 0
    for hit in best_matching_turns(call, question, k=len(call.turns)) or call.turns:
        i = position[hit.segment_idx]
        for j in range(max(0, i - 2), min(len(call.turns), i + 3)):  # a little context each side
            cost = prompts.estimate_tokens(call.render((call.turns[j],))) + 1
            if j not in picked and used + cost <= budget_tokens:
                picked.add(j)
                used += cost
        if used >= budget_tokens * 0.95:
            break
    return tuple(call.turns[j] for j in sorted(picked))


def _chat_for(client_or_analyzer: Any, model: str | None) -> tuple[JsonChat, openai.AsyncOpenAI, bool]:
    """(chat, client, whether we own the client and must close it)."""
    if isinstance(client_or_analyzer, LLMAnalyzer):
        return client_or_analyzer.chat, client_or_analyzer.async_client(), True
    if isinstance(client_or_analyzer, openai.AsyncOpenAI):
        model = model or os.environ.get(MODEL_ENV)
        if not model:
            raise LLMConfigurationError(f"ask() with a bare client needs model= (or {MODEL_ENV})")
        settings = LLMSettings(base_url=str(client_or_analyzer.base_url).rstrip("/"), model=model,
                               api_key=client_or_analyzer.api_key if isinstance(client_or_analyzer.api_key, str) else "",
                               max_retries=client_or_analyzer.max_retries, conn_id="(client)")
        return JsonChat(settings), client_or_analyzer, False
    raise TypeError(f"ask() takes an LLMAnalyzer or an openai.AsyncOpenAI, not {type(client_or_analyzer).__name__}")


async def ask(client_or_analyzer: LLMAnalyzer | openai.AsyncOpenAI, call: CallText, question: str, *,
              model: str | None = None, context_budget_tokens: int = DEFAULT_ASK_BUDGET_TOKENS) -> Answer:
    """The LLM's answer with the segments it cites. Raises LLMConfigurationError (bad key, unknown
    model); other failures come back as ``Answer(error=...)`` so the caller can fall back to
    :func:`best_matching_turns`."""
    if isinstance(client_or_analyzer, LLMAnalyzer):
        await client_or_analyzer.aresolve()  # non-blocking connection lookup
    chat, client, own = _chat_for(client_or_analyzer, model)
    turns = _context_turns(call, question, context_budget_tokens)
    shown = {t.segment_idx: t for t in turns}

    def check(reply: _Reply) -> str | None:
        unknown = sorted(set(reply.segment_idxs) - shown.keys())
        if unknown:
            return (f"segment_idxs {', '.join(map(str, unknown))} are not lines of the transcript; "
                    f"cite only the #indices shown")
        return None

    usage = Usage()
    try:
        reply = await chat.request(client, system=prompts.ASK_PROMPT, name="call_answer",
                                   schema=prompts.ANSWER_SCHEMA, model_cls=_Reply,
                                   user=prompts.ask_user_message(call, turns, question), usage=usage, check=check)
    except (UnusableAnswer, openai.APIError) as exc:
        error = str(exc) if isinstance(exc, UnusableAnswer) else chat.describe(exc)
        return Answer(answer="", model=chat.settings.model, error=error,
                      input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    finally:
        if own:
            await client.close()
    cited = sorted(set(reply.segment_idxs), key=lambda i: (_when(shown[i]), i))
    return Answer(
        answer=reply.answer,
        citations=[Citation(segment_idx=i, start_s=shown[i].start_s, end_s=shown[i].end_s) for i in cited],
        model=chat.settings.model, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
    )
