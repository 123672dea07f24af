"""Completed jobs carry their result inline, or an empty/absent result and a signed result_url."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from callmine.errors import ProviderError
from callmine.hooks.pyai import PyAIEndpoint, PyAIHook
from callmine.providers.pyai import PyAIProvider
from callmine.transcript import Diarization

RESULT = {
    "text": "hello",
    "segments": [{"start": 0.0, "end": 1.0, "text": "hello", "speaker": "speaker_0"}],
    "words": [{"start": 0.1, "end": 0.5, "word": "hello"}],
}


def fetch_with(job: dict, signed_body: dict | None = None) -> tuple[object, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.test":
            return httpx.Response(200, json=job)
        return httpx.Response(200, json=signed_body)

    provider = PyAIProvider(hook=PyAIHook(endpoint=PyAIEndpoint("https://api.test", "pyai_test_key")))

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await provider.afetch(client, "job_1", Diarization.MODEL)

    return asyncio.run(run()), seen


@pytest.mark.parametrize("empty", [None, {}], ids=["absent", "empty"])
def test_empty_inline_result_with_result_url_is_fetched_from_the_signed_url(empty):
    job = {"job_id": "job_1", "status": "completed", "result": empty, "result_url": "https://store.test/r?sig=x"}
    fetched, seen = fetch_with(job, RESULT)
    assert fetched.transcript.words.word == ["hello"]
    assert [r.url.host for r in seen] == ["api.test", "store.test"]
    assert "authorization" not in seen[1].headers


def test_inline_result_is_used_without_a_second_request():
    fetched, seen = fetch_with({"job_id": "job_1", "status": "completed", "result": RESULT})
    assert fetched.transcript.text == "hello"
    assert len(seen) == 1


def test_completed_job_without_any_result_is_an_error():
    with pytest.raises(ProviderError, match="neither result nor result_url"):
        fetch_with({"job_id": "job_1", "status": "completed"})


def test_api_requests_carry_the_bearer_key():
    _, seen = fetch_with({"job_id": "job_1", "status": "completed", "result": RESULT})
    assert seen[0].headers["authorization"] == "Bearer pyai_test_key"
    assert json.loads(seen[0].content or b"null") is None
