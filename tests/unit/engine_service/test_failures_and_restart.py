"""Engine service: bad input fails jobs (not the service), worker faults, restart persistence."""

from __future__ import annotations

import importlib.util
import signal
import time
from pathlib import Path

import httpx
import pytest

from include.engine.store import JobStore
from tests.unit.engine_service.helpers import (
    JOBS, ROOT, EngineServer, Loopback, engine_config, engine_process, free_port, make_wav, upload, wait_done,
    wait_status, write_wav,
)


def failed_error(client: httpx.Client, job_id: str) -> dict:
    body = wait_done(client, job_id).json()
    assert body["status"] == "failed", body
    assert "result" not in body and "x-pyai-units" not in body
    return body["error"]


# --- bad input: the job fails with a clear error ------------------------------------------


def test_empty_file_fails_the_job(client: httpx.Client) -> None:
    error = failed_error(client, upload(client, b"", filename="empty.wav").json()["job_id"])
    assert error == {"code": "audio_empty", "message": "audio is empty"}


def test_garbage_bytes_fail_the_job(client: httpx.Client) -> None:
    error = failed_error(client, upload(client, b"\x00\x13garbage" * 200, filename="junk.wav").json()["job_id"])
    assert error["code"] == "audio_decode_failed" and error["message"].startswith("could not decode audio: ")


def test_upload_over_the_size_limit_is_413(client: httpx.Client) -> None:
    response = upload(client, make_wav(8.0), filename="long.wav")  # 128 KB > 0.1 MB
    assert response.status_code == 413
    assert response.json()["type"].endswith("/payload_too_large")
    assert "audio too large" in response.json()["detail"]


def test_audio_url_over_the_size_limit_fails_the_job(client: httpx.Client, loopback: Loopback) -> None:
    loopback.files["/long.wav"] = make_wav(8.0)
    job = client.post(JOBS, json={"audio_url": f"{loopback.url}/long.wav"}).json()
    error = failed_error(client, job["job_id"])
    assert error["code"] == "audio_too_large" and error["message"] == "audio too large (0.1 MB > 0.1 MB)"


def test_unreachable_audio_url_fails_the_job(client: httpx.Client, loopback: Loopback) -> None:
    # (a file:// URL is checked at submit: test_security_files.py)
    for url in ("http://127.0.0.1:9/x.wav", f"{loopback.url}/missing.wav"):
        error = failed_error(client, client.post(JOBS, json={"audio_url": url}).json()["job_id"])
        assert error["code"] == "audio_fetch_failed" and error["message"].startswith("could not fetch audio_url: ")


# --- processor faults: the job fails, the service stays up ----------------------------------


def test_processor_exception_fails_the_job_and_service_stays_up(client: httpx.Client) -> None:
    error = failed_error(client, upload(client, filename="raise.wav").json()["job_id"])
    assert error["code"] == "processing_failed" and "processor exploded on purpose" in error["message"]
    assert client.get("/v1/me").status_code == 200
    assert wait_done(client, upload(client).json()["job_id"]).json()["status"] == "completed"


def test_worker_crash_fails_only_that_job(client: httpx.Client) -> None:
    crash = upload(client, filename="crash.wav").json()["job_id"]
    error = failed_error(client, crash)
    assert error["code"] == "worker_crashed" and "exit code 7" in error["message"]
    assert wait_done(client, upload(client).json()["job_id"]).json()["status"] == "completed"


def test_job_overrunning_the_timeout_is_stopped_and_the_slot_serves_the_next(tmp_path: Path) -> None:
    config = engine_config(tmp_path, api_keys=(), workers=1, job_timeout_s=1.0)
    with EngineServer(config) as server, server.client(None) as c:
        hung = upload(c, filename="sleep-30000ms.wav").json()["job_id"]
        error = failed_error(c, hung)
        assert error["code"] == "processing_timeout" and "longer than 1 s" in error["message"]
        assert wait_done(c, upload(c).json()["job_id"]).json()["status"] == "completed"


def test_job_interrupted_too_often_fails_with_a_clear_error(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "engine.sqlite3")
    job = store.insert(job_id="job_poison", owner="anonymous", options={
        "channel": False, "diarize": False, "numerals": False, "output_formats": ["json"], "webhook_url": None,
        "language": None, "speakers_expected": None, "model": "tiny.en"}, audio_url="file:///x.wav",
        filename=None, audio_path=None, idempotency_key=None, fingerprint="f")
    for _ in range(3):  # three attempts, each interrupted by a stop (a start re-queues it)
        store.requeue_interrupted()
        assert store.claim_next() is not None
    store.close()
    with EngineServer(engine_config(tmp_path, api_keys=(), workers=1)) as server, server.client(None) as c:
        body = wait_done(c, job.job_id).json()
    assert body["status"] == "failed" and body["attempts"] == 4
    assert body["error"]["code"] == "too_many_attempts" and "gave up after 3 attempts" in body["error"]["message"]


# --- restart persistence (real `python -m include.engine` subprocess) -----------------------


def test_restart_requeues_the_interrupted_job_and_keeps_all_jobs(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    slow = write_wav(tmp_path / "sleep-1500ms.wav", seconds=2.0)
    quick = write_wav(tmp_path / "quick.wav")
    base = f"http://127.0.0.1:{port}"
    with engine_process(data_dir, port) as proc, httpx.Client(base_url=base, timeout=10) as c:
        first = c.post(JOBS, json={"audio_url": slow.as_uri()}).json()["job_id"]
        others = [upload(c, make_wav(seed=i)).json()["job_id"] for i in range(2)]
        others.append(c.post(JOBS, json={"audio_url": quick.as_uri()}).json()["job_id"])
        wait_status(c, first, "processing")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a graceful stop
    with engine_process(data_dir, port) as proc, httpx.Client(base_url=base, timeout=10) as c:
        body = wait_done(c, first).json()
        assert body["status"] == "completed" and body["attempts"] == 2
        assert body["result"]["audio_seconds"] == pytest.approx(2.0)
        for job_id in others:
            assert wait_done(c, job_id).json()["status"] == "completed"
        listed = [j["job_id"] for j in c.get(JOBS).json()["data"]]
        assert listed == [*others[::-1], first]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a graceful stop
    assert not [p for p in (data_dir / "audio").iterdir()]  # uploads deleted once their jobs ended


# --- end to end with the real speech core ----------------------------------------------------

SAMPLE = ROOT / "include/samples/calls/2026-11-20_acme-renewal_stereo.wav"


def _speech_core_missing() -> bool:
    try:
        return importlib.util.find_spec("include.engine.speech.engine") is None
    except ImportError:
        return True


@pytest.mark.skipif(_speech_core_missing(), reason="include.engine.speech.engine (speech core) is not importable yet")
def test_real_processor_transcribes_a_sample_call(tmp_path: Path) -> None:
    config = engine_config(tmp_path, api_keys=(), workers=1, max_upload_mb=100,
                           processor="include.engine.speech.engine:transcribe_file", offload_over_bytes=10 ** 9)
    with EngineServer(config) as server, server.client(None) as c:
        job = c.post(JOBS, json={"audio_url": SAMPLE.as_uri(), "channel": True, "output_formats": ["json", "vtt"]})
        started = time.monotonic()
        body = wait_done(c, job.json()["job_id"], timeout_s=300).json()
    assert body["status"] == "completed", body
    result = body["result"]
    assert result["text"].strip() and result["segments"] and result["audio_seconds"] > 0
    assert {s.get("channel") for s in result["segments"]} <= {0, 1}
    assert "vtt" in result["formats"]
    assert time.monotonic() - started < 300
