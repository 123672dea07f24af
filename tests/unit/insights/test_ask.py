"""ask(): an LLM answer citing validated segments; best_matching_turns(): the keyword fallback."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from callmine.insights.ask import Answer, ask, best_matching_turns
from callmine.insights.llm import LLMAnalyzer
from callmine.insights.model import CallText, Turn
from tests.fake_openai_chat import FakeOpenAIChat
from tests.unit.insights.test_llm_analyzer import make_call, settings


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIChat() as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.reset()
    return server


def turns_call(*texts: str, times: list[float] | None = None) -> CallText:
    times = times or [i * 10.0 for i in range(len(texts))]
    turns = tuple(Turn(i, f"ch{i % 2}", None, t, t + 5.0, text) for i, (t, text) in enumerate(zip(times, texts)))
    return CallText("c", times[-1] + 5.0, turns)


def test_ask_returns_the_answer_with_the_segments_it_cites(fake):
    answer = asyncio.run(ask(LLMAnalyzer(settings(fake)), make_call(), "When will the refund be sent?"))
    assert isinstance(answer, Answer) and answer.error is None
    assert "refund today" in answer.answer
    assert [(c.segment_idx, c.start_s, c.end_s) for c in answer.citations][0] == (4, 20.0, 24.5)
    user = fake.chat_requests[0].messages[1]["content"]
    assert "#4 [20.0s-24.5s] agent (ch0): I see the double charge" in user
    assert user.rstrip().endswith("Question: When will the refund be sent?")


def test_citations_of_segments_that_do_not_exist_are_repaired(fake):
    fake.configure(script=[json.dumps({"answer": "A refund.", "segment_idxs": [4, 99]})])
    answer = asyncio.run(ask(LLMAnalyzer(settings(fake)), make_call(), "When will the refund be sent?"))
    assert answer.error is None and all(c.segment_idx != 99 for c in answer.citations)
    repair = fake.chat_requests[1].messages[-1]["content"]
    assert "99" in repair and "not lines of the transcript" in repair


def test_an_unusable_answer_comes_back_as_an_error(fake):
    fake.configure(invalid_json_times=2)
    answer = asyncio.run(ask(LLMAnalyzer(settings(fake)), make_call(), "refund?"))
    assert answer.answer == "" and answer.citations == [] and "not valid JSON" in answer.error


def test_ask_works_with_a_bare_client_and_a_model(fake):
    async def go() -> Answer:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0) as client:
            return await ask(client, make_call(), "which invoice number?", model=fake.default_model)

    answer = asyncio.run(go())
    assert answer.model == fake.default_model and "4411" in answer.answer
    assert 3 in [c.segment_idx for c in answer.citations]


def test_a_long_call_sends_only_the_matching_turns_and_their_neighbours(fake):
    filler = [f"We talked about the weather on day {i}." for i in range(200)]
    call = turns_call(*filler[:120], "The parcel tracking number is missing.", *filler[120:])
    asyncio.run(ask(LLMAnalyzer(settings(fake)), call, "tracking number", context_budget_tokens=100))
    user = fake.chat_requests[0].messages[1]["content"]
    assert "#120 " in user and "The parcel tracking number is missing." in user
    assert "#0 " not in user and user.count("\n#") < 12


def test_best_matching_turns_ranks_by_keyword_overlap_without_stopwords():
    call = turns_call("Hello, how are you?", "I want a refund for the broken charger.",
                      "The charger was broken on arrival.", "What is the weather like?")
    assert [t.segment_idx for t in best_matching_turns(call, "Was the charger refunded?")] == [1, 2]
    assert best_matching_turns(call, "what is the") == []  # only stopwords


def test_best_matching_turns_breaks_ties_by_time():
    call = turns_call("refund please", "other", "refund now", "refund later", times=[30.0, 5.0, 10.0, 20.0])
    assert [t.segment_idx for t in best_matching_turns(call, "refund", k=2)] == [2, 3]
