"""The ``llm`` analyzer: call insights from any OpenAI-compatible chat-completions endpoint.

Pure asyncio (it runs inside an Airflow trigger): one shared ``AsyncOpenAI`` client, calls
bounded by a semaphore. Retries of 429 / 5xx / connection errors are the openai client's
(``max_retries`` on the hook); here we only handle what it cannot: answers that are not
usable JSON (one repair round), endpoints without structured output (prompt-mode
fallback), calls longer than the context budget (chunk, then summarise the chunks) and
configuration errors, which fail the whole batch instead of every call.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import openai
from pydantic import BaseModel, Field, ValidationError

from callmine.hooks.llm import LLMConfigurationError, LLMHook, LLMSettings
from callmine.insights import prompts
from callmine.insights.model import ActionItem, CallInsights, CallText, InsightsResult, Phase, normalize_phases

__all__ = ["LLMAnalyzer", "LLMConfigurationError", "JsonChat", "UnusableAnswer", "Usage"]

log = logging.getLogger(__name__)
Structured = Literal["auto", "json_schema", "prompt"]
M = TypeVar("M", bound=BaseModel)


class UnusableAnswer(Exception):
    """The model's answer was still not valid after the repair round."""


class ChunkNotes(BaseModel):
    summary: str = ""
    action_items: list[ActionItem] = Field(default_factory=list)
    phases: list[Phase] = Field(default_factory=list)


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, usage: Any) -> None:
        if usage is not None:
            self.input_tokens += usage.prompt_tokens or 0
            self.output_tokens += usage.completion_tokens or 0


def _rejects_response_format(exc: openai.APIStatusError) -> bool:
    text = f"{exc.message} {exc.body}".lower()
    return "response_format" in text or "json_schema" in text


def _parse(content: str, finish: str | None, schema: dict[str, Any], model_cls: type[M],
           check: Callable[[M], str | None] | None) -> M:
    """The answer as ``model_cls``, or ValueError with a one-line reason for the repair prompt."""
    if finish == "length":
        raise ValueError("the answer was cut off at the output token limit (finish_reason=length)")
    text = content.strip()
    try:
        data = json.loads(text)
    except ValueError as exc:
        try:  # prompt-mode models like to wrap the object in code fences or a sentence
            data = json.loads(text[text.index("{") : text.rindex("}") + 1])
        except ValueError:
            raise ValueError(f"the answer is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    if missing := [k for k in schema.get("required", []) if k not in data]:
        raise ValueError(f"the answer lacks required keys: {', '.join(missing)}")
    try:
        parsed = model_cls.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise ValueError(f"the answer does not match the schema ({errors})") from None
    if check is not None and (problem := check(parsed)):
        raise ValueError(problem)
    return parsed


class JsonChat:
    """One JSON request with structured output when available, and one repair round."""

    def __init__(self, settings: LLMSettings, *, structured: Structured = "auto",
                 max_output_tokens: int | None = 4096) -> None:
        if structured not in ("auto", "json_schema", "prompt"):
            raise ValueError(f"structured must be auto, json_schema or prompt, not {structured!r}")
        self.settings = settings
        self.structured = structured
        self.max_output_tokens = max_output_tokens
        self.use_schema = structured != "prompt"  # auto: until the endpoint says otherwise

    async def request(self, client: openai.AsyncOpenAI, *, system: str, name: str, schema: dict[str, Any],
                      model_cls: type[M], user: str, usage: Usage,
                      check: Callable[[M], str | None] | None = None) -> M:
        convo: list[dict[str, str]] = [{"role": "user", "content": user}]
        content, finish = await self._complete(client, system, name, schema, convo, usage)
        try:
            return _parse(content, finish, schema, model_cls, check)
        except ValueError as exc:
            reason = str(exc)
        # The repair round carries the schema too: an endpoint that silently ignores
        # response_format has never seen it.
        convo += [{"role": "assistant", "content": content},
                  {"role": "user", "content": prompts.with_schema(prompts.repair_message(reason), schema)}]
        content, finish = await self._complete(client, system, name, schema, convo, usage)
        try:
            return _parse(content, finish, schema, model_cls, check)
        except ValueError as exc:
            raise UnusableAnswer(f"unusable answer after one repair: {exc}") from None

    async def _complete(self, client: openai.AsyncOpenAI, system: str, name: str, schema: dict[str, Any],
                        convo: list[dict[str, str]], usage: Usage) -> tuple[str, str | None]:
        use_schema = self.use_schema
        extra: dict[str, Any] = {}
        if use_schema:
            extra["response_format"] = {"type": "json_schema",
                                        "json_schema": {"name": name, "schema": schema, "strict": True}}
        if self.max_output_tokens:
            extra["max_completion_tokens"] = self.max_output_tokens
        messages = [{"role": "system", "content": system if use_schema else prompts.with_schema(system, schema)},
                    *convo]
        try:
            response = await client.chat.completions.create(model=self.settings.model, messages=messages, **extra)
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if not (use_schema and _rejects_response_format(exc)):
                raise
            if self.structured == "json_schema":
                raise self.fatal(exc, "rejects response_format json_schema; use structured='auto' or 'prompt'") from None
            if self.use_schema:  # first to notice: say it once, remember it for the analyzer's lifetime
                self.use_schema = False
                log.warning("%s rejected response_format (%s): schema goes in the prompt from now on",
                            self.settings.base_url, self.settings.redact(exc.message, 160))
            return await self._complete(client, system, name, schema, convo, usage)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise self.fatal(exc, f"rejected the API key: check the password of Airflow connection "
                                  f"{self.settings.conn_id!r}") from None
        except openai.NotFoundError as exc:
            raise self.fatal(exc, f"does not know model {self.settings.model!r}: check extra.model of connection "
                                  f"{self.settings.conn_id!r} (or CALLMINE_LLM_MODEL) and that the host is "
                                  "the API base URL, usually ending in /v1") from None
        usage.add(response.usage)
        if not response.choices:
            return "", None
        choice = response.choices[0]
        return choice.message.content or "", choice.finish_reason

    def fatal(self, exc: openai.APIStatusError, what: str) -> LLMConfigurationError:
        return LLMConfigurationError(f"LLM endpoint {self.settings.base_url} {what} "
                                     f"(HTTP {exc.status_code}: {self.settings.redact(exc.message, 200)})")

    def describe(self, exc: openai.APIError) -> str:
        """A per-call error: one line, no key."""
        if isinstance(exc, openai.APITimeoutError):
            return f"LLM request timed out after {self.settings.max_retries} retries"
        if isinstance(exc, openai.APIConnectionError):
            return f"could not reach {self.settings.base_url} after {self.settings.max_retries} retries"
        status = getattr(exc, "status_code", None)
        return f"LLM endpoint error (HTTP {status}): {self.settings.redact(exc.message)}"


class LLMAnalyzer:
    """``name="llm"``; ``aanalyze(client, call)`` for one call, ``analyze_many`` for a batch."""

    name = "llm"
    prompt_version = prompts.PROMPT_VERSION

    def __init__(self, hook_or_settings: LLMHook | LLMSettings, *, context_budget_tokens: int = 24_000,
                 structured: Structured = "auto", max_output_tokens: int | None = 4096) -> None:
        if structured not in ("auto", "json_schema", "prompt"):
            raise ValueError(f"structured must be auto, json_schema or prompt, not {structured!r}")
        self._hook = hook_or_settings if isinstance(hook_or_settings, LLMHook) else None
        self._settings = hook_or_settings if isinstance(hook_or_settings, LLMSettings) else None
        self.context_budget_tokens = context_budget_tokens  # transcript tokens per request
        self._structured: Structured = structured
        self._max_output_tokens = max_output_tokens
        self._chat: JsonChat | None = None  # one per analyzer: it remembers a response_format refusal

    # -- settings: resolved lazily so a trigger can resolve them without blocking ---------
    @property
    def settings(self) -> LLMSettings:
        if self._settings is None:
            assert self._hook is not None
            self._settings = self._hook.get_settings()
        return self._settings

    async def aresolve(self) -> LLMSettings:
        if self._settings is None and self._hook is not None:
            self._settings = await self._hook.aget_settings()
        return self.settings

    @property
    def chat(self) -> JsonChat:
        if self._chat is None:
            self._chat = JsonChat(self.settings, structured=self._structured, max_output_tokens=self._max_output_tokens)
        return self._chat

    @property
    def model(self) -> str:
        return self.settings.model

    def async_client(self) -> openai.AsyncOpenAI:
        return self.settings.async_client()

    # -- analysis ---------------------------------------------------------------------------
    async def aanalyze(self, client: openai.AsyncOpenAI, call: CallText) -> InsightsResult:
        """Insights for one call, or a result with ``error`` set. Raises LLMConfigurationError.

        Built from a hook, call ``await aresolve()`` first so the connection lookup does not block.
        """
        result = InsightsResult(call_id=call.call_id, analyzer=self.name, model=self.model,
                                prompt_version=self.prompt_version, transcript_hash=call.transcript_hash)
        if not any(t.text.strip() for t in call.turns):
            result.error = "empty transcript: nothing to analyze"
            return result
        usage = Usage()
        try:
            result.insights = await self._insights(client, call, usage)
        except UnusableAnswer as exc:
            result.error = " ".join(str(exc).split())  # one line
        except openai.APIError as exc:  # what is left after the client's retries
            result.error = self.chat.describe(exc)
        result.input_tokens, result.output_tokens = usage.input_tokens, usage.output_tokens
        if result.error:
            log.warning("llm insights for call %s failed: %s", call.call_id, result.error)
        return result

    async def _insights(self, client: openai.AsyncOpenAI, call: CallText, usage: Usage) -> CallInsights:
        ask = self.chat.request
        user = prompts.insights_user_message(call)
        if prompts.estimate_tokens(call.render()) <= self.context_budget_tokens:
            insights = await ask(client, system=prompts.SYSTEM_PROMPT, name="call_insights",
                                 schema=prompts.INSIGHTS_SCHEMA, model_cls=CallInsights, user=user, usage=usage)
            phases = insights.phases
        else:  # map: notes per part (sequential, so a call holds one request slot); reduce: the whole call
            chunks = prompts.split_turns(call, self.context_budget_tokens)
            notes = []
            for i, turns in enumerate(chunks):
                note = await ask(client, system=prompts.CHUNK_PROMPT, name="call_part_notes",
                                 schema=prompts.CHUNK_SCHEMA, model_cls=ChunkNotes,
                                 user=prompts.chunk_user_message(call, turns, i, len(chunks)), usage=usage)
                notes.append((turns, note))
            insights = await ask(client, system=prompts.SYSTEM_PROMPT, name="call_insights",
                                 schema=prompts.INSIGHTS_SCHEMA, model_cls=CallInsights,
                                 user=prompts.final_user_message(call, notes), usage=usage)
            phases = [p for _, note in notes for p in note.phases]
            if not insights.action_items:
                insights.action_items = [item for _, note in notes for item in note.action_items]
        return insights.model_copy(update={"phases": normalize_phases(phases, call.duration_s)})

    async def analyze_many(self, calls: Sequence[CallText], concurrency: int = 8, *,
                           client: openai.AsyncOpenAI | None = None) -> list[InsightsResult]:
        """Results in input order. At most ``concurrency`` calls in flight on one shared client;
        a configuration error cancels the rest and propagates."""
        await self.aresolve()
        own = client is None
        client = client or self.async_client()
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(call: CallText) -> InsightsResult:
            async with gate:
                return await self.aanalyze(client, call)

        tasks = [asyncio.create_task(one(call)) for call in calls]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            if own:
                await client.close()

    def analyze(self, call: CallText) -> InsightsResult:
        """Sync entry point (CLI, scripts); not for use inside a running event loop."""
        return asyncio.run(self.analyze_many([call], concurrency=1))[0]
