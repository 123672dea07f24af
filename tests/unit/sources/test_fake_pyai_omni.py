"""The fake PyAI Omni API keeps the contract (provider-contracts §2), checked with plain HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.fake_pyai_omni import PROBLEM_MEDIA_TYPE, FakeOmniServer

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
TURNS = {"turns": [{"role": "assistant", "text": "Hello.", "start_ms": 0, "end_ms": 800}]}


@pytest.fixture
def fake():
    with FakeOmniServer() as server:
        yield server


@pytest.fixture
def api(fake):
    with httpx.Client(base_url=fake.base_url, headers=fake.auth_headers) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert body["status"] == status and body["title"]
    assert body["type"].rstrip("/").rsplit("/", 1)[-1] == code
    return body


def test_requests_without_a_key_get_a_401_problem_with_a_bearer_challenge(fake):
    response = httpx.get(fake.base_url + "/v1/omni/calls")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_wrong_key_is_refused_without_being_echoed(fake):
    response = httpx.get(fake.base_url + "/v1/omni/calls", headers={"Authorization": "Bearer pyai_test_nope"})
    assert_problem(response, 401, "unauthorized")
    assert "pyai_test_nope" not in response.text


def test_the_x_api_key_header_is_an_alias_for_bearer_auth(fake):
    assert httpx.get(fake.base_url + "/v1/omni/calls", headers={"x-api-key": fake.api_key}).status_code == 200


def test_a_key_without_omni_read_gets_403(fake, api):
    fake.configure(scopes=("transcribe:jobs",))
    assert_problem(api.get("/v1/omni/calls"), 403, "forbidden")


def test_calls_are_listed_newest_first_in_cursor_pages(fake, api):
    for minutes in range(5):
        fake.add_call(f"c{minutes}", T0 + timedelta(minutes=minutes))

    first = api.get("/v1/omni/calls", params={"limit": 2}).json()
    second = api.get("/v1/omni/calls", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    last = api.get("/v1/omni/calls", params={"limit": 2, "cursor": second["next_cursor"]}).json()

    assert [c["call_id"] for page in (first, second, last) for c in page["data"]] == ["c4", "c3", "c2", "c1", "c0"]
    assert (first["has_more"], second["has_more"], last["has_more"], last["next_cursor"]) == (True, True, False, None)


def test_created_at_is_rendered_as_iso_8601_or_epoch_seconds(fake, api):
    fake.add_call("iso", T0)
    fake.add_call("epoch", T0 - timedelta(seconds=1), created_at_as="epoch")
    data = api.get("/v1/omni/calls").json()["data"]
    assert [c["created_at"] for c in data] == ["2026-05-01T12:00:00Z", int(T0.timestamp()) - 1]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"cursor": "garbage"}])
def test_a_bad_limit_or_cursor_is_a_400_problem(api, params):
    assert_problem(api.get("/v1/omni/calls", params=params), 400, "validation_error")


@pytest.mark.parametrize("transcript", [TURNS, {"turns": [{"role": "user", "text": "Hi"}]}, "User: hi"],
                         ids=["timed", "untimed", "legacy"])
def test_an_inline_transcript_is_the_omni_call_transcript_object(fake, api, transcript):
    fake.add_call("c1", T0, transcript)
    body = api.get("/v1/omni/calls/c1/transcript").json()
    assert body == {"object": "omni.call.transcript", "call_id": "c1", "transcript": transcript}


def test_a_transcript_not_pushed_yet_is_404_for_n_requests_then_served(fake, api):
    fake.add_call("c1", T0, TURNS, not_pushed_for=2)
    statuses = [api.get("/v1/omni/calls/c1/transcript").status_code for _ in range(3)]
    assert statuses == [404, 404, 200]


def test_a_held_transcript_is_404_until_pushed(fake, api):
    fake.add_call("c1", T0, TURNS, held=True)
    assert_problem(api.get("/v1/omni/calls/c1/transcript"), 404, "not_found")
    fake.push("c1")
    assert api.get("/v1/omni/calls/c1/transcript").status_code == 200


def test_unknown_calls_and_calls_without_a_transcript_are_404_problems(fake, api):
    fake.add_call("failed", T0, None)
    assert_problem(api.get("/v1/omni/calls/failed/transcript"), 404, "not_found")
    assert_problem(api.get("/v1/omni/calls/nope/transcript"), 404, "not_found")


def test_an_offloaded_transcript_is_a_signed_url_on_another_host(fake, api):
    fake.add_call("c1", T0, TURNS, offloaded=True)
    body = api.get("/v1/omni/calls/c1/transcript").json()

    assert body["transcript"] is None
    assert body["transcript_url"].startswith(fake.store_base_url)
    assert httpx.get(body["transcript_url"]).json() == TURNS


def test_the_signed_store_rejects_requests_carrying_the_api_key(fake, api):
    fake.add_call("c1", T0, TURNS, offloaded=True)
    url = api.get("/v1/omni/calls/c1/transcript").json()["transcript_url"]
    assert httpx.get(url, headers=fake.auth_headers).status_code == 400
    assert httpx.get(url, headers={"x-api-key": fake.api_key}).status_code == 400


def test_the_signed_store_rejects_a_tampered_signature(fake, api):
    fake.add_call("c1", T0, TURNS, offloaded=True)
    url = api.get("/v1/omni/calls/c1/transcript").json()["transcript_url"]
    assert_problem(httpx.get(url[:-4] + "0000"), 403, "forbidden")


def test_an_injected_outage_fails_the_next_n_requests_with_5xx(fake, api):
    fake.fail_next(2, status=503, retry_after="0")
    first, second, third = (api.get("/v1/omni/calls") for _ in range(3))
    assert_problem(first, 503, "service_unavailable")
    assert first.headers["retry-after"] == "0"
    assert second.status_code == 503 and third.status_code == 200


def test_the_fake_imports_nothing_from_the_code_under_test():
    import ast
    import pathlib

    import tests.fake_pyai_omni as package

    imported = set()
    here = pathlib.Path(package.__file__).parent
    for path in [*here.glob("*.py"), here.parent / "background_server.py"]:  # and its server plumbing
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add((node.module or "").split(".")[0])
    assert not imported & {"callmine", "include", "plugins"}
