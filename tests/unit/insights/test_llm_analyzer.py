"""The llm analyzer against the fake OpenAI-compatible server: prompts, structured output,
retries, repair, phases, chunking, fatal errors, concurrency and key hygiene."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from callmine.hooks.llm import LLMConfigurationError, LLMHook, LLMSettings
from callmine.insights import prompts
from callmine.insights.llm import LLMAnalyzer
from callmine.insights.model import PHASE_NAMES, ActionItem, CallInsights, CallText, Dimensions, Phase, Turn
from tests.fake_openai_chat import FakeOpenAIChat, scripted

LINES = [
    ("agent", "Thank you for calling Acme, this is Ann, how can I help?"),
    ("customer", "Hi, my invoice is wrong, I was charged twice and I am frustrated."),
    ("agent", "I'm sorry about that, let me check your account."),
    ("customer", "It is the March invoice, number 4411."),
    ("agent", "I see the double charge. I'll send you a refund today."),
    ("customer", "Okay, thank you, that is great."),
    ("agent", "Is there anything else I can do?"),
    ("customer", "No, that's all. Goodbye."),
]


def make_call(n: int = 8, call_id: str = "call-1", step: float = 5.0) -> CallText:
    turns = []
    for i in range(n):
        role, text = LINES[i % len(LINES)]
        turns.append(Turn(i, "ch0" if role == "agent" else "ch1", role, i * step, i * step + step - 0.5, text))
    return CallText(call_id, n * step, tuple(turns), transcript_hash=f"h-{call_id}")


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIChat() as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.reset()
    return server


def settings(fake: FakeOpenAIChat, **kw) -> LLMSettings:
    return LLMSettings(**{"base_url": fake.base_url, "model": fake.default_model, "api_key": fake.api_key,
                          "max_retries": 2, "timeout_s": 10.0, **kw})


def run(analyzer: LLMAnalyzer, *calls: CallText, concurrency: int = 4):
    return asyncio.run(analyzer.analyze_many(list(calls) or [make_call()], concurrency))


def token_sums(fake: FakeOpenAIChat) -> tuple[int, int]:
    done = [r.usage for r in fake.chat_requests if r.usage]
    return sum(u["prompt_tokens"] for u in done), sum(u["completion_tokens"] for u in done)


def test_the_prompt_carries_the_speaker_labelled_transcript_with_times(fake):
    run(LLMAnalyzer(settings(fake)))
    user = fake.chat_requests[0].messages[1]["content"]
    assert "[0.0s-4.5s] agent (ch0): Thank you for calling Acme" in user
    assert "[5.0s-9.5s] customer (ch1): Hi, my invoice is wrong" in user
    assert "Duration: 40.0 s" in user and "Speakers: agent (ch0), customer (ch1)" in user


def test_json_schema_mode_is_used_when_the_endpoint_supports_it(fake):
    (result,) = run(LLMAnalyzer(settings(fake)))
    (request,) = fake.chat_requests
    assert request.response_format["json_schema"]["strict"] is True
    assert request.response_format["json_schema"]["schema"] == prompts.INSIGHTS_SCHEMA
    assert result.error is None and result.insights.sentiment in ("positive", "negative")
    assert result.insights.summary.startswith("agent (ch0) said: Thank you for calling Acme")


def test_prompt_mode_fallback_when_response_format_is_rejected_and_remembered(fake):
    fake.configure(json_schema_supported=False)
    results = run(LLMAnalyzer(settings(fake)), make_call(call_id="a"), make_call(call_id="b"), concurrency=1)
    assert [r.error for r in results] == [None, None]
    assert [r.status for r in fake.chat_requests] == [400, 200, 200]  # rejected once, then prompt mode
    for request in fake.chat_requests[1:]:
        assert request.response_format is None and '"sentiment_score"' in request.messages[0]["content"]


def test_structured_json_schema_only_fails_fast_when_rejected(fake):
    fake.configure(json_schema_supported=False)
    with pytest.raises(LLMConfigurationError, match="response_format"):
        run(LLMAnalyzer(settings(fake), structured="json_schema"))


def test_rate_limited_429_is_retried_after_retry_after(fake):
    fake.configure(rate_limit_times=2, retry_after_s=0.3)
    (result,) = run(LLMAnalyzer(settings(fake)))
    assert result.error is None
    first, second, third = fake.chat_requests
    assert [first.status, second.status, third.status] == [429, 429, 200]
    assert second.started_at - first.finished_at >= 0.25  # the client waited as asked


def test_server_errors_are_retried(fake):
    fake.configure(server_error_times=2, server_error_status=503)
    (result,) = run(LLMAnalyzer(settings(fake)))
    assert result.error is None and [r.status for r in fake.chat_requests] == [503, 503, 200]


def test_server_errors_beyond_the_retries_fail_only_that_call(fake):
    fake.configure(server_error_times=2)
    first, second = run(LLMAnalyzer(settings(fake, max_retries=1)), make_call(call_id="a"), make_call(call_id="b"),
                        concurrency=1)
    assert first.insights is None and "HTTP 500" in first.error
    assert second.error is None and second.insights is not None


def test_a_truncated_answer_gets_one_repair_and_then_succeeds(fake):
    fake.configure(truncate_times=1)
    (result,) = run(LLMAnalyzer(settings(fake)))
    assert result.error is None and result.insights is not None
    bad, repair = fake.chat_requests
    assert bad.finish_reason == "length"
    assert repair.messages[-2] == {"role": "assistant", "content": bad.answer}  # sent back verbatim
    assert "cut off" in repair.messages[-1]["content"]
    assert (result.input_tokens, result.output_tokens) == token_sums(fake)  # summed over both requests


def test_truncated_twice_is_an_error_row_with_no_invented_fields(fake):
    fake.configure(truncate_times=2)
    (result,) = run(LLMAnalyzer(settings(fake)))
    assert result.insights is None and "finish_reason=length" in result.error and "\n" not in result.error
    assert len(fake.chat_requests) == 2 and result.input_tokens > 0


def test_invalid_json_twice_is_an_error(fake):
    fake.configure(invalid_json_times=2)
    (result,) = run(LLMAnalyzer(settings(fake)))
    assert result.insights is None and "not valid JSON" in result.error


def test_a_schema_violation_is_repaired(fake):
    fake.configure(responder=lambda body: json.dumps({**json.loads(scripted.answer(body)), "sentiment": "furious"})
                   if len(body["messages"]) == 2 else None)
    (result,) = run(LLMAnalyzer(settings(fake)))
    assert result.error is None and len(fake.chat_requests) == 2
    assert "sentiment" in fake.chat_requests[1].messages[-1]["content"]


def test_json_in_code_fences_or_prose_is_accepted_without_a_repair(fake):
    fake.configure(responder=lambda body: f"Here you go:\n```json\n{scripted.answer(body)}\n```")
    (result,) = run(LLMAnalyzer(settings(fake), structured="prompt"))
    assert result.error is None and len(fake.chat_requests) == 1
    assert fake.chat_requests[0].response_format is None


def test_phases_are_clipped_ordered_contiguous_with_gaps_as_other(fake):
    phases = [{"name": "Goodbye", "start_s": 30.0, "end_s": 55.0, "summary": "bye"},
              {"name": "Introduction", "start_s": 0.0, "end_s": 6.0, "summary": "hi"},
              {"name": "Complaint", "start_s": 4.0, "end_s": 15.0, "summary": "double charge"},
              {"name": "Resolution", "start_s": 20.0, "end_s": 30.0, "summary": "refund"}]
    fake.configure(responder=lambda body: json.dumps({**json.loads(scripted.answer(body)), "phases": phases}))
    (result,) = run(LLMAnalyzer(settings(fake)))  # the call lasts 40 s
    got = [(p.name, p.start_s, p.end_s) for p in result.insights.phases]
    assert got == [("Introduction", 0.0, 6.0), ("Complaint", 6.0, 15.0), ("Other", 15.0, 20.0),
                   ("Resolution", 20.0, 30.0), ("Goodbye", 30.0, 40.0)]


def test_a_long_call_is_chunked_under_a_small_budget(fake):
    call = make_call(40)
    analyzer = LLMAnalyzer(settings(fake), context_budget_tokens=150)
    (result,) = run(analyzer, call)
    chunks = prompts.split_turns(call, 150)
    requests = fake.chat_requests
    assert len(chunks) >= 3 and len(requests) == len(chunks) + 1
    for i, request in enumerate(requests[:-1]):
        assert request.response_format["json_schema"]["name"] == "call_part_notes"
        assert f"Part {i + 1} of {len(chunks)}" in request.messages[1]["content"]
    final = requests[-1].messages[1]["content"]
    assert requests[-1].response_format["json_schema"]["name"] == "call_insights"
    assert "part 1:" in final and "Thank you for calling Acme, this is Ann" not in final.split("part 1:")[0]
    phases = result.insights.phases
    assert phases[0].start_s == 0.0 and phases[-1].end_s == call.duration_s
    assert all(a.end_s == b.start_s for a, b in zip(phases, phases[1:]))
    assert (result.input_tokens, result.output_tokens) == token_sums(fake)


def test_a_bad_key_raises_a_configuration_error_without_the_key(fake):
    wrong = "sk-wrong-5f4e3d2c1b0a99887766"
    with pytest.raises(LLMConfigurationError) as info:
        run(LLMAnalyzer(settings(fake, api_key=wrong)), *[make_call(call_id=f"c{i}") for i in range(20)])
    message = str(info.value)
    assert "401" in message and "llm_default" in message
    assert wrong not in message and wrong[-4:] not in message and info.value.__cause__ is None
    assert len(fake.chat_requests) < 20  # the batch stopped instead of failing call by call


def test_an_unknown_model_raises_a_configuration_error(fake):
    with pytest.raises(LLMConfigurationError, match="404.*does not exist|does not know model 'gpt-nope'"):
        run(LLMAnalyzer(settings(fake, model="gpt-nope")))


def test_concurrency_is_bounded(fake):
    fake.configure(latency_s=0.2)
    results = run(LLMAnalyzer(settings(fake)), *[make_call(call_id=f"c{i}") for i in range(12)], concurrency=3)
    assert [r.call_id for r in results] == [f"c{i}" for i in range(12)] and all(r.insights for r in results)
    assert fake.max_in_flight == 3


def test_the_key_never_appears_in_logs_or_results(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.configure(rate_limit_times=1, truncate_times=2, json_schema_supported=False)
    results = run(LLMAnalyzer(settings(fake)), make_call(call_id="a"), make_call(call_id="b"))
    with pytest.raises(LLMConfigurationError):
        run(LLMAnalyzer(settings(fake, api_key="sk-other-key-00112233445566")))
    text = caplog.text + repr(results) + repr(LLMAnalyzer(settings(fake)).settings)
    assert caplog.records and fake.api_key not in text and "sk-other-key-00112233445566" not in text


def test_the_connection_can_come_from_the_airflow_conn_env_var(fake, monkeypatch):
    monkeypatch.delenv("CALLMINE_LLM_MODEL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_LLM_DEFAULT", json.dumps(
        {"conn_type": "http", "host": fake.base_url, "password": fake.api_key, "extra": {"model": fake.default_model}}))
    analyzer = LLMAnalyzer(LLMHook())
    (result,) = run(analyzer)
    assert result.error is None and result.model == fake.default_model and result.analyzer == "llm"


def test_an_empty_transcript_is_an_error_without_a_request(fake):
    (result,) = run(LLMAnalyzer(settings(fake)), CallText("empty", 3.0, ()))
    assert result.insights is None and "empty transcript" in result.error and not fake.chat_requests


def test_the_answer_schema_matches_the_pydantic_models():
    def keys(schema):
        return set(schema["properties"])

    assert keys(prompts.INSIGHTS_SCHEMA) == set(CallInsights.model_fields)
    assert keys(prompts.DIMENSIONS) == set(Dimensions.model_fields)
    assert keys(prompts.PHASE) == set(Phase.model_fields) and keys(prompts.ACTION_ITEM) == set(ActionItem.model_fields)
    assert prompts.PHASE["properties"]["name"]["enum"] == list(PHASE_NAMES)
