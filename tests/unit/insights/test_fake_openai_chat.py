"""The fake chat-completions server behaves like the public OpenAI API (shape, auth, faults)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tests.fake_openai_chat import FakeOpenAIChat

TRANSCRIPT = "\n".join([
    "[0.0s-4.0s] agent (ch0): Thank you for calling Acme, this is Ann.",
    "[4.5s-9.0s] customer (ch1): My router is broken and I am frustrated.",
    "[9.5s-15.0s] agent (ch0): I'll send a replacement router today.",
    "[15.5s-18.0s] customer (ch1): Okay, goodbye.",
])
SCHEMA = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
        "phases": {"type": "array", "items": {
            "type": "object",
            "properties": {"name": {"type": "string", "enum": ["Introduction", "Complaint", "Resolution", "Goodbye", "Other"]},
                           "start_s": {"type": "number"}, "end_s": {"type": "number"}},
            "required": ["name", "start_s", "end_s"], "additionalProperties": False}},
    },
    "required": ["summary", "sentiment", "phases"],
    "additionalProperties": False,
}


def json_schema(schema: dict = SCHEMA) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "t", "schema": schema, "strict": True}}


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIChat() as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.reset()
    return server


def client(fake, key=None, retries=0) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key=key or fake.api_key, max_retries=retries)


def chat(fake, **kwargs):
    kwargs.setdefault("model", fake.default_model)
    kwargs.setdefault("messages", [{"role": "user", "content": TRANSCRIPT}])
    return client(fake).chat.completions.create(**kwargs)


def test_a_bad_key_gets_an_openai_style_401(fake):
    response = httpx.post(fake.base_url + "/chat/completions", headers={"Authorization": "Bearer sk-wrong-0000000000"},
                          json={"model": fake.default_model, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "invalid_api_key"
    assert "sk-wrong-0000000000" not in error["message"]  # masked, like OpenAI


def test_models_lists_the_configured_models(fake):
    assert [m.id for m in client(fake).models.list()] == [fake.default_model]


def test_scripted_answer_follows_the_schema_and_the_transcript(fake):
    response = chat(fake, response_format=json_schema())
    doc = json.loads(response.choices[0].message.content)
    assert doc["summary"].startswith("agent (ch0) said: Thank you for calling Acme")
    assert doc["sentiment"] == "negative"
    assert [p["name"] for p in doc["phases"]] == ["Introduction", "Complaint", "Resolution", "Goodbye"]
    assert doc["phases"][0]["start_s"] == 0.0 and doc["phases"][-1]["end_s"] == 18.0
    assert response.choices[0].finish_reason == "stop"


def test_usage_is_reported(fake):
    usage = chat(fake).usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_requests_are_recorded_without_the_key(fake):
    chat(fake, response_format=json_schema())
    (request,) = fake.chat_requests
    assert request.model == fake.default_model and request.response_format["type"] == "json_schema"
    assert request.messages[0]["content"] == TRANSCRIPT
    assert "authorization" not in request.headers and fake.api_key not in json.dumps(request.headers)


def test_response_format_is_rejected_when_json_schema_is_unsupported(fake):
    fake.configure(json_schema_supported=False)
    with pytest.raises(openai.BadRequestError, match="response_format"):
        chat(fake, response_format=json_schema())
    assert chat(fake).choices[0].message.content  # without it the request works


def test_a_non_strict_schema_is_rejected_like_openai_does(fake):
    loose = {**SCHEMA, "required": ["summary"]}
    with pytest.raises(openai.BadRequestError, match="required"):
        chat(fake, response_format=json_schema(loose))


def test_rate_limit_answers_429_with_retry_after_then_ok(fake):
    fake.configure(rate_limit_times=1, retry_after_s=1.5)
    with pytest.raises(openai.RateLimitError) as info:
        chat(fake)
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.response.headers["retry-after-ms"] == "1500"
    assert chat(fake).choices[0].message.content


def test_truncated_answer_has_finish_reason_length(fake):
    fake.configure(truncate_times=1)
    choice = chat(fake, response_format=json_schema()).choices[0]
    assert choice.finish_reason == "length"
    with pytest.raises(ValueError):
        json.loads(choice.message.content)


def test_slow_answers_overlap_when_concurrent(fake):
    fake.configure(latency_s=0.4)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: chat(fake), range(8)))
    assert time.monotonic() - started < 1.5
    assert fake.max_in_flight == 8
