"""The fake CallMissed service keeps to the public docs (so the provider tests mean something)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.audio import write_wav
from tests.fake_callmissed import ANALYSIS_VARIANTS, FakeCallMissed

ROOT = Path(__file__).resolve().parents[3]
ANALYZE = "/api/v1/analytics/calls/analyze"
QUESTION = "/api/v1/analytics/calls/question"


@pytest.fixture(scope="module")
def fake():
    with FakeCallMissed() as server:
        yield server


@pytest.fixture
def http(fake):
    fake.reset()
    with httpx.Client(base_url=fake.base_url, headers=fake.auth_headers, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("audio") / "call.wav", seconds=2.0).read_bytes()


def analyze(http, content, filename="call.wav", **data):
    return http.post(ANALYZE, files={"file": (filename, content)}, data=data)


def test_an_analysis_has_the_documented_fields(http, wav):
    body = analyze(http, wav, language="hi-IN").json()
    assert set(body) == {"transcript", "speaker_timing", "analysis", "summary", "generated_at"}
    labels = re.findall(r"^(SPEAKER_\d+): ", body["transcript"], re.MULTILINE)
    assert labels and set(body["speaker_timing"]) == set(labels)
    assert all(isinstance(v, float) for v in body["speaker_timing"].values())
    assert body["analysis"] == ANALYSIS_VARIANTS["documented"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["generated_at"])


def test_the_analysis_text_shape_is_chosen_by_the_test(http, fake, wav):
    fake.configure(analysis_variant="markdown")
    assert analyze(http, wav).json()["analysis"] == ANALYSIS_VARIANTS["markdown"]


def test_requests_without_the_bearer_token_get_401(fake, wav):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": fake.api_key}):
        response = httpx.post(fake.base_url + ANALYZE, files={"file": ("call.wav", wav)}, headers=headers)
        assert response.status_code == 401 and "detail" in response.json()


def test_files_over_the_size_limit_get_413(http, fake, wav):
    fake.configure(max_upload_bytes=len(wav) - 1)
    assert analyze(http, wav).status_code == 413


def test_a_format_outside_the_nine_gets_415_and_bad_content_gets_400(http, wav):
    assert analyze(http, wav, filename="call.wma").status_code == 415
    assert analyze(http, b"plain text", filename="call.mp3").status_code == 400
    assert analyze(http, wav, filename="call.flac").status_code == 400  # WAV bytes named .flac
    assert analyze(http, b"", filename="call.wav").status_code == 400


def test_server_errors_are_served_to_the_next_n_requests_only(http, fake, wav):
    fake.configure(server_error_times=2, server_error_status=503)
    assert [analyze(http, wav).status_code for _ in range(3)] == [503, 503, 200]


def test_slow_answers_overlap(fake, http, wav):
    fake.configure(latency_s=0.3)
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: analyze(http, wav).status_code, range(4)))
    assert codes == [200] * 4 and fake.max_in_flight == 4


def test_requests_are_recorded_without_the_token(http, fake, wav):
    analyze(http, wav, language="en-US")
    [seen] = fake.requests
    assert (seen.filename, seen.size, seen.language, seen.status) == ("call.wav", len(wav), "en-US", 200)
    assert fake.api_key not in repr(seen)


def test_a_question_about_a_transcript_is_answered(http):
    answer = http.post(QUESTION, json={"transcript": "SPEAKER_1: the refund is approved", "question": "Is the refund approved?"})
    assert answer.status_code == 200 and "refund" in answer.json()["answer"]
    assert http.post(QUESTION, json={"question": "no transcript"}).status_code == 422


def test_the_fake_imports_nothing_from_callmine_or_the_engine():
    code = ("import sys, tests.fake_callmissed, tests.fake_callmissed.__main__; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('callmine', 'include')))")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
