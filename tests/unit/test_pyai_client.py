"""The PyAI hook and provider against the faithful fake service."""

from __future__ import annotations

import asyncio
import logging

import pytest

from callmine.errors import (
    AuthenticationError,
    CreditExhaustedError,
    IdempotencyConflictError,
    PermissionDeniedError,
    ProviderUnavailableError,
)
from callmine.hooks.pyai import PyAIEndpoint, PyAIHook, Upload
from callmine.providers.base import AudioSource, JobRequest
from callmine.providers.pyai import PyAIProvider
from callmine.retry import Backoff
from callmine.transcript import Diarization
from tests.audio import write_wav
from tests.fake_pyai import FakeConfig, FakePyAIServer
from tests.fake_pyai.config import KeyConfig

FAST = Backoff(base_s=0.01, cap_s=0.05)


@pytest.fixture
def wav(tmp_path):
    return write_wav(tmp_path / "call.wav", seconds=6.0, channels=2).read_bytes()


def serve(**overrides):
    return FakePyAIServer(FakeConfig(latency_s=0.05, **overrides))


def hook_for(fake, key=None, **kwargs):
    endpoint = PyAIEndpoint(fake.base_url, key if key is not None else fake.api_key)
    return PyAIHook(endpoint=endpoint, backoff=FAST, **kwargs)


def provider_for(fake, **kwargs):
    return PyAIProvider(hook=hook_for(fake, **kwargs))


def request(key="k1", diarization=Diarization.CHANNEL):
    return JobRequest(call_id="c1", diarization=diarization, speakers=2, idempotency_key=key)


async def wait_done(provider, job_id):
    async with provider.async_client() as client:
        for _ in range(200):
            status = await provider.apoll(client, job_id)
            if status.terminal:
                return status
            await asyncio.sleep(0.02)
    raise AssertionError("job never finished")


async def fetch(provider, job_id, diarization=Diarization.CHANNEL):
    await wait_done(provider, job_id)
    async with provider.async_client() as client:
        return await provider.afetch(client, job_id, diarization)


def test_hook_reads_base_url_and_key_from_the_airflow_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PYAI_TEST", '{"conn_type": "http", "host": "http://127.0.0.1:8700", "password": "pyai_test_abc"}')
    endpoint = PyAIHook("pyai_test").get_endpoint()
    assert (endpoint.base_url, endpoint.api_key) == ("http://127.0.0.1:8700", "pyai_test_abc")


def test_without_a_connection_the_hook_uses_the_embedded_engine(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_PYAI_DEFAULT", raising=False)
    monkeypatch.setenv("CALLMINE_ENGINE_URL", "http://127.0.0.1:9999/")
    endpoint = PyAIHook().get_endpoint()
    assert (endpoint.base_url, endpoint.api_key) == ("http://127.0.0.1:9999", None)


def test_a_named_connection_that_is_missing_is_an_error(monkeypatch):
    from airflow.sdk.exceptions import AirflowNotFoundException

    with pytest.raises(AirflowNotFoundException):
        PyAIHook("pyai_prod").get_endpoint()


def test_endpoint_repr_never_shows_the_key():
    assert "secret" not in repr(PyAIEndpoint("http://x", "pyai_live_secret"))


def test_upload_submit_creates_a_job(wav):
    with serve() as fake:
        status = provider_for(fake).submit(request(), AudioSource("call.wav", content=wav))
        assert status.job_id.startswith("job_") and status.status == "queued"
        assert fake.stats()["jobs_created"] == 1


def test_resubmitting_with_the_same_key_returns_the_same_job(wav):
    with serve() as fake:
        provider = provider_for(fake)
        first = provider.submit(request(), AudioSource("call.wav", content=wav))
        second = provider.submit(request(), AudioSource("call.wav", content=wav))
        assert first.job_id == second.job_id
        assert fake.stats()["jobs_created"] == 1


def test_same_key_with_a_different_body_is_a_final_conflict(wav):
    with serve() as fake:
        provider = provider_for(fake)
        provider.submit(request(), AudioSource("call.wav", content=wav))
        with pytest.raises(IdempotencyConflictError, match="idempotency_conflict"):
            provider.submit(request(diarization=Diarization.MODEL), AudioSource("call.wav", content=wav))


def test_bad_key_is_a_final_authentication_error_that_does_not_leak_the_key(wav):
    with serve() as fake:
        with pytest.raises(AuthenticationError) as raised:
            provider_for(fake, key="pyai_test_wrong_key_123").submit(request(), AudioSource("c.wav", content=wav))
        assert "pyai_test_wrong_key_123" not in str(raised.value)
        assert fake.stats()["unauthorized"] == 1  # not retried


def test_exhausted_credit_is_final(wav):
    keys = {"pyai_test_broke": KeyConfig(state="credit_exhausted")}
    with serve(keys=keys) as fake:
        with pytest.raises(CreditExhaustedError):
            provider_for(fake).submit(request(), AudioSource("c.wav", content=wav))


def test_missing_scope_is_final(wav):
    keys = {"pyai_test_noscope": KeyConfig(scopes=("hear:transcribe",))}
    with serve(keys=keys) as fake:
        with pytest.raises(PermissionDeniedError):
            provider_for(fake).submit(request(), AudioSource("c.wav", content=wav))


def test_rate_limited_requests_are_retried_after_the_servers_delay(wav):
    with serve(requests_per_second=2.0, burst=1) as fake:
        provider = provider_for(fake)
        ids = {provider.submit(request(key=f"k{i}"), AudioSource("c.wav", content=wav)).job_id for i in range(3)}
        assert len(ids) == 3
        assert fake.stats()["rate_limited"] >= 1


def test_server_errors_are_retried_then_surface_as_unavailable():
    with serve(fail_every_n_get=1) as fake:
        hook = hook_for(fake, max_attempts=2)
        with pytest.raises(ProviderUnavailableError, match="503"):
            hook.get_job("job_missing")
        assert fake.stats()["server_errors_injected"] == 2


def test_offloaded_result_is_fetched_from_the_result_host_without_the_key(wav):
    with serve(offload_over_bytes=0) as fake:
        provider = provider_for(fake)
        job_id = provider.submit(request(), AudioSource("call.wav", content=wav)).job_id
        fetched = asyncio.run(fetch(provider, job_id))
        assert len(fetched.transcript.words) > 0
        stats = fake.stats()
        assert stats["result_fetches"] >= 1
        assert stats["result_fetches_with_auth"] == 0


def test_inline_result_needs_no_second_host(wav):
    with serve(offload_over_bytes=None) as fake:
        provider = provider_for(fake)
        job_id = provider.submit(request(), AudioSource("call.wav", content=wav)).job_id
        fetched = asyncio.run(fetch(provider, job_id))
        assert set(fetched.transcript.speakers) == {"ch0", "ch1"}
        assert fetched.billed_seconds == pytest.approx(6.0, abs=0.01)


def test_requested_subtitles_are_downloaded(wav):
    with serve() as fake:
        provider = provider_for(fake)
        job_id = provider.submit(request(), AudioSource("call.wav", content=wav)).job_id
        fetched = asyncio.run(fetch(provider, job_id))
        assert fetched.subtitles["vtt"].startswith(b"WEBVTT")
        assert b"-->" in fetched.subtitles["srt"]


def test_replayed_submit_of_a_finished_job_reports_it_finished(wav):
    with serve() as fake:
        provider = provider_for(fake)
        job_id = provider.submit(request(), AudioSource("call.wav", content=wav)).job_id
        asyncio.run(wait_done(provider, job_id))
        assert provider.submit(request(), AudioSource("call.wav", content=wav)).status == "completed"


def test_failed_job_reports_its_error(tmp_path):
    with serve() as fake:
        provider = provider_for(fake)
        job_id = provider.submit(request(), AudioSource("bad.wav", content=b"RIFF-not-audio" * 50)).job_id
        status = asyncio.run(wait_done(provider, job_id))
        assert status.status == "failed" and status.error


def test_listing_follows_cursors_over_every_page(wav):
    with serve() as fake:
        provider = provider_for(fake)
        created = {provider.submit(request(key=f"k{i}"), AudioSource("c.wav", content=wav)).job_id for i in range(5)}
        listed = [job["job_id"] for job in provider.hook.iter_jobs(page_size=2)]
        assert set(listed) == created and len(listed) == 5


def test_multipart_fields_keep_booleans_and_lists(wav):
    with serve() as fake:
        job = hook_for(fake).submit_job(
            {"diarize": True, "output_formats": ["json", "vtt"], "speakers_expected": 2},
            idempotency_key="m1", upload=Upload("mono.wav", wav, "audio/wav"),
        )
        assert job["status"] == "queued"


def test_the_key_never_reaches_the_logs(wav, caplog):
    caplog.set_level(logging.DEBUG)
    with serve(requests_per_second=2.0, burst=1) as fake:
        provider = provider_for(fake)
        for i in range(3):
            provider.submit(request(key=f"k{i}"), AudioSource("c.wav", content=wav))
        assert fake.api_key not in caplog.text
