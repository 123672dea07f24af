"""Hostile provider answers and URLs end as a failed call with a reason or a clear error.

Decisions: ``callmine.hooks.pyai`` (non-JSON answers, signed URLs on other schemes) and
``callmine.transcript.build_transcript`` (words past the recording's end).
"""

from __future__ import annotations

from tests.unit.hostile_support import *  # noqa: F403 - the shared fixtures and helpers


# -- 10. answers that are not JSON -----------------------------------------------------------------


def test_a_poll_answer_that_is_not_json_fails_that_call_and_the_batch_goes_on(tmp_path, fake, monkeypatch):
    write_wav(day_folder(tmp_path) / "proxied.wav", seconds=4.0)
    write_wav(day_folder(tmp_path) / "fine.wav", seconds=4.0, seed=3)
    submission = submit(tmp_path)
    serve_hostile(monkeypatch, (get_of_job(job_of(submission, "proxied.wav")), html_page))
    outcomes = stage(tmp_path, wait(submission))
    assert outcomes["fine.wav"] == ("completed", None)
    status, error = outcomes["proxied.wav"]
    assert status == "failed" and "not JSON" in error and "text/html" in error and "Bad Gateway" in error


def test_a_job_document_or_result_that_is_not_json_fails_that_call_at_stage(tmp_path, monkeypatch):
    with FakePyAIServer(FakeConfig(latency_s=0.2, offload_over_bytes=0)) as fake:  # every result offloaded
        conn = {"conn_type": "http", "host": fake.base_url, "password": fake.api_key}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        for name in ("bad-job.wav", "bad-result.wav", "fine.wav"):
            write_wav(day_folder(tmp_path) / name, seconds=3.0, seed=len(name))
        submission = submit(tmp_path)
        waited = wait(submission)
        bad_result = job_of(submission, "bad-result.wav")
        serve_hostile(
            monkeypatch,
            (get_of_job(job_of(submission, "bad-job.wav")), lambda _: httpx.Response(200, content=b'{"job_id": "tru')),
            (lambda r: r.url.path.endswith(f"/result/{bad_result}"), html_page),
        )
        outcomes = stage(tmp_path, waited)
    assert outcomes["fine.wav"] == ("completed", None)
    status, error = outcomes["bad-job.wav"]
    assert status == "failed" and error.startswith("result unusable:") and "job document is not valid" in error
    status, error = outcomes["bad-result.wav"]
    assert status == "failed" and error.startswith("result unusable:") and "not a valid result document" in error


def test_a_submit_answer_that_is_not_json_rejects_that_recording_instead_of_crashing():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, text="<html>accepted?</html>", headers={"content-type": "text/html"})

    hook = PyAIHook(endpoint=PyAIEndpoint("https://api.test", "pyai_test_key"), backoff=FAST)
    hook._client = httpx.Client(transport=httpx.MockTransport(handler))
    request = JobRequest(call_id="c1", diarization=Diarization.MODEL, speakers=2, idempotency_key="k1")
    outcome = PyAIProvider(hook=hook).submit_job(request, AudioSource("a.wav", content=b"RIFF"))
    assert isinstance(outcome, Rejected) and "not JSON" in outcome.reason and "text/html" in outcome.reason
    with pytest.raises(UnusableAnswerError, match="no job_id"):  # JSON, but not a job document
        hook._client = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(202, json={"ok": 1})))
        PyAIProvider(hook=hook).submit(request, AudioSource("a.wav", content=b"RIFF"))


# -- 11. word and segment times -------------------------------------------------------------------


def ghost_result(audio_seconds: float = 4.0) -> dict:
    return {
        "audio_seconds": audio_seconds,
        "segments": [{"start": 0.0, "end": 1.0, "text": "hello", "channel": 0}],
        "words": [{"start": 0.1, "end": 0.5, "word": "hello", "channel": 0},
                  {"start": 3600.0, "end": 3600.4, "word": "ghost", "channel": 0}],
    }


def fetch_job(job: dict, duration_s: float | None = None):
    async def run():
        transport = httpx.MockTransport(lambda _: httpx.Response(200, json=job))
        async with httpx.AsyncClient(transport=transport) as client:
            provider = PyAIProvider(hook=PyAIHook(endpoint=PyAIEndpoint("https://api.test", "k"), backoff=FAST))
            return await provider.afetch(client, job["job_id"], Diarization.CHANNEL, duration_s=duration_s)

    return asyncio.run(run())


def test_words_far_past_the_recordings_end_make_the_result_unusable():
    job = {"job_id": "job_1", "status": "completed", "result": ghost_result()}
    with pytest.raises(TranscriptError, match="word 1 starts at 3600.0s"):
        fetch_job(job, duration_s=4.0)  # the probed duration, when the caller passes it
    with pytest.raises(TranscriptError, match="after the end of the audio"):
        fetch_job(job)  # without it: the service's own audio_seconds bounds the words
    within = {**job, "result": {**ghost_result(), "words": ghost_result()["words"][:1]}}
    assert fetch_job(within, duration_s=4.0).transcript.words.word == ["hello"]


def test_a_result_with_words_past_the_end_fails_that_call_through_the_stage(tmp_path, fake, monkeypatch):
    write_wav(day_folder(tmp_path) / "haunted.wav", seconds=4.0)
    write_wav(day_folder(tmp_path) / "fine.wav", seconds=4.0, seed=3)
    submission = submit(tmp_path)
    waited = wait(submission)
    haunted = job_of(submission, "haunted.wav")
    forged = {"job_id": haunted, "status": "completed", "result": ghost_result()}
    serve_hostile(monkeypatch, (get_of_job(haunted), lambda _: httpx.Response(200, json=forged)))
    outcomes = stage(tmp_path, waited)
    assert outcomes["fine.wav"] == ("completed", None)
    status, error = outcomes["haunted.wav"]
    assert status == "failed" and error.startswith("result unusable:") and "3600.0s" in error


def test_overlapping_segments_are_legal_and_kept_in_time_order():
    doc = {
        "audio_seconds": 10.0,
        "segments": [
            {"start": 2.0, "end": 5.0, "text": "second thought", "channel": 0},
            {"start": 0.0, "end": 3.0, "text": "first thought", "channel": 0},  # overlaps its own next turn
            {"start": 1.0, "end": 4.0, "text": "talking over", "channel": 1},  # both parties at once
        ],
        "words": [
            {"start": 2.1, "end": 2.5, "word": "second", "channel": 0},
            {"start": 0.1, "end": 0.5, "word": "first", "channel": 0},
            {"start": 1.1, "end": 1.5, "word": "talking", "channel": 1},
        ],
    }
    transcript = normalize_pyai_result(doc, Diarization.CHANNEL, duration_s=10.0)
    assert transcript.segments.start == [0.0, 1.0, 2.0]
    assert transcript.segments.speaker == ["ch0", "ch1", "ch0"]
    assert transcript.words.word == ["first", "talking", "second"]
    assert transcript.words.segment_idx == [0, 1, 2]  # each word in its own speaker's segment


# -- 12. signed URLs on unexpected schemes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "url"),
    [
        ("https://api.test", "file://{secret}"),
        ("https://api.test", "ftp://store.test/result.json"),
        ("https://api.test", "http://store.test/result.json?sig=x"),  # a downgrade from an https API
        ("http://127.0.0.1:8700", "file://{secret}"),
        ("http://127.0.0.1:8700", "gopher://store.test/result"),
        ("https://api.test", "data:application/json,{}"),
        ("https://api.test", "/signed/result/job_1"),
    ],
)
def test_result_urls_on_unexpected_schemes_are_refused_without_opening_anything(tmp_path, monkeypatch, api, url):
    secret = tmp_path / "local-secret.json"
    secret.write_text(json.dumps({"text": "read from the worker's disk"}))
    opened: list[str] = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: (opened.append(str(f)), real_open(f, *a, **k))[1])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"job_id": "job_1", "status": "completed",
                                         "result_url": url.replace("{secret}", str(secret))})

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            provider = PyAIProvider(hook=PyAIHook(endpoint=PyAIEndpoint(api, "k"), backoff=FAST))
            return await provider.afetch(client, "job_1", Diarization.MODEL)

    with pytest.raises(RefusedURLError, match="refusing") as refused:
        asyncio.run(run())
    assert isinstance(refused.value, ProviderError) and not refused.value.retryable
    assert len(seen) == 1  # the job document only: the URL itself was never requested
    assert str(secret) not in opened and "sig=" not in str(refused.value)


def test_a_subtitle_url_on_an_unexpected_scheme_is_refused_too():
    result = {"segments": [{"start": 0.0, "end": 1.0, "text": "hi", "speaker": "speaker_0"}],
              "words": [{"start": 0.1, "end": 0.5, "word": "hi"}],
              "formats": {"srt": "ftp://store.test/x.srt", "vtt": "https://store.test/x.vtt"}}
    with pytest.raises(RefusedURLError, match="fetch srt of job job_1: refusing to follow ftp://store.test/x.srt"):
        fetch_job({"job_id": "job_1", "status": "completed", "result": result})


# -- all of it in one day: every recording accounted for -------------------------------------------


def test_a_hostile_day_ends_with_every_recording_completed_or_failed_with_its_reason(tmp_path, fake):
    folder = day_folder(tmp_path)
    write_wav(folder / "good stereo.wav", seconds=4.0, channels=2)
    write_wav(folder / "line\nbreak.wav", seconds=3.0, seed=1)
    write_wav(folder / "conference.wav", seconds=3.0, channels=3, seed=2)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.mp3").write_text("not audio at all\n" * 30)
    write_truncated_wav(folder / "cut.wav", seconds=8.0, keep=0.5)
    write_wav(folder / "marathon.wav", seconds=9.0, seed=4)
    submission = submit(tmp_path, max_duration_s=6)
    assert fake.stats()["jobs_created"] == 3  # only the usable recordings ever reach the service
    outcomes = stage(tmp_path, wait(submission))
    assert {name for name, (status, _) in outcomes.items() if status == "completed"} == {
        "good stereo.wav", "line\nbreak.wav", "conference.wav"}
    reasons = {name: error for name, (status, error) in outcomes.items() if status == "failed"}
    assert reasons == {
        "empty.wav": "recording is empty (0 bytes)",
        "notes.mp3": "unreadable audio: the file holds text, not audio",
        "cut.wav": "recording is truncated: its WAV header promises 8.0 s of audio but the file holds 4.0 s "
                   "(a copy still in progress or cut off?)",
        "marathon.wav": "longer than the provider's limit of 6 s (9.0 s of audio)",
    }


