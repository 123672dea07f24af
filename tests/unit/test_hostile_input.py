"""Hostile input never crashes a run and never loses a recording ("Nothing lost, ever").

Each case ends as a failed call with a reason (the recording's ``probe_error``, a failed
job, "result unusable: ..."), a clear error, or a skip with a log line naming the file;
the rest of the run goes on. The decisions are documented in ``callmine.discovery``,
``callmine.probe``, ``callmine.hooks.pyai`` and ``callmine.providers.pyai``.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import fsspec
import httpx
import pytest
from airflow.sdk.exceptions import TaskDeferred

from callmine import discovery
from callmine.discovery import find_recordings
from callmine.errors import ProviderError
from callmine.hooks.pyai import PyAIEndpoint, PyAIHook, RefusedURLError, UnusableAnswerError
from callmine.operators.stage import StageBatchOperator
from callmine.operators.submit import SubmitBatchOperator
from callmine.probe import probe_audio
from callmine.providers.base import AudioSource, JobRequest, Rejected
from callmine.providers.pyai import PyAIProvider
from callmine.providers.pyai_result import normalize_pyai_result
from callmine.recordings import Recording, RunSettings, make_batches, make_call_id
from callmine.retry import Backoff
from callmine.sensors.transcription import TranscriptionJobsSensor
from callmine.transcript import Diarization, TranscriptError
from callmine.warehouse import Warehouse
from tests.audio import write_truncated_wav, write_wav
from tests.fake_pyai import FakeConfig, FakePyAIServer

DAY = date(2026, 11, 20)
CONN_ID = "pyai_hostile_test"
FAST = Backoff(base_s=0.01, cap_s=0.05)


def day_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings" / f"{DAY:%Y/%m/%d}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def discover(tmp_path: Path, **kwargs) -> discovery.Discovery:
    return find_recordings(str(tmp_path / "recordings"), DAY, **kwargs)


def by_name(found: discovery.Discovery) -> dict[str, Recording]:
    return {r.filename: r for r in found.recordings}


# -- driving a batch through submit, wait and stage against the fake service ------------------


class StateStore(dict):
    """The task state store's get/set surface (stored as JSON, like Airflow's)."""

    def set(self, key, value, **_):
        self[key] = json.loads(json.dumps(value))


@pytest.fixture
def fake(monkeypatch):
    with FakePyAIServer(FakeConfig(latency_s=0.2)) as server:
        conn = {"conn_type": "http", "host": server.base_url, "password": server.api_key}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        yield server


def settings_for(tmp_path: Path) -> RunSettings:
    return RunSettings(call_date=DAY.isoformat(), run_id="manual__hostile", source_uri=str(tmp_path / "recordings"),
                       warehouse_uri=str(tmp_path / "warehouse"), conn_id=CONN_ID, insights="off")


def submit(tmp_path: Path, **discover_kwargs) -> dict:
    settings = settings_for(tmp_path)
    [batch] = make_batches(find_recordings(settings.source_uri, DAY, **discover_kwargs).recordings, settings, 50)
    # Through JSON, as XCom carries it: hostile names must survive that too.
    batch_xcom = json.loads(json.dumps(batch.to_dict()))
    return SubmitBatchOperator(task_id="submit", batch=batch_xcom).execute({"task_state_store": StateStore()})


def wait(submission: dict) -> dict:
    """The sensor deferred, then resumed with its trigger's event, as the triggerer would."""
    sensor = TranscriptionJobsSensor(task_id="wait", submission=submission, poll_interval_s=0.05)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})

    async def first_event():
        async for event in deferred.value.trigger.run():
            return event.payload

    return sensor.execute_complete({}, asyncio.run(first_event()))


def stage(tmp_path: Path, wait_result: dict) -> dict[str, tuple[str, str | None]]:
    """Stage the batch; each recording's (status, error) by file name."""
    StageBatchOperator(task_id="stage", wait_result=wait_result).execute({})
    settings = settings_for(tmp_path)
    calls = Warehouse(settings.warehouse_uri).staged_tables(settings.run_key)["calls"].to_pylist()
    return {c["source_uri"].rsplit("/", 1)[-1]: (c["status"], c["error"]) for c in calls}


class HostileTransport(httpx.AsyncBaseTransport):
    """The real fake service, except for requests a rule answers (a proxy page, a forged result)."""

    def __init__(self, rules: list[tuple[Callable[[httpx.Request], bool], Callable[[httpx.Request], httpx.Response]]]):
        self.inner = httpx.AsyncHTTPTransport()
        self.rules = rules

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for matches, answer in self.rules:
            if matches(request):
                return answer(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def serve_hostile(monkeypatch, *rules) -> None:
    """Every async PyAI client (trigger polls, stage fetches) goes through the hostile transport."""
    monkeypatch.setattr(PyAIHook, "async_client",
                        lambda self: httpx.AsyncClient(transport=HostileTransport(list(rules)), timeout=self.timeout))


def get_of_job(job_id: str) -> Callable[[httpx.Request], bool]:
    return lambda request: request.method == "GET" and request.url.path.endswith(f"/jobs/{job_id}")


def html_page(_: httpx.Request | None = None) -> httpx.Response:
    """What a misbehaving proxy answers in the service's place: 200 and an HTML page."""
    return httpx.Response(200, text="<html><body>502 Bad Gateway</body></html>", headers={"content-type": "text/html"})


def job_of(submission: dict, name: str) -> str:
    batch = submission["batch"]
    call_id = next(r["call_id"] for r in batch["recordings"] if r["source_uri"].endswith("/" + name))
    return submission["jobs"][call_id]


# -- 1. zero bytes ----------------------------------------------------------------------------


def test_a_zero_byte_recording_fails_with_its_reason_instead_of_crashing(tmp_path):
    empty = day_folder(tmp_path) / "empty.wav"
    empty.write_bytes(b"")
    write_wav(day_folder(tmp_path) / "good.wav")
    found = by_name(discover(tmp_path))
    assert found["empty.wav"].probe_error == "recording is empty (0 bytes)"
    assert found["good.wav"].probe_error is None
    assert probe_audio(str(empty)).error == "recording is empty (0 bytes)"  # the probe alone says so too
    with open(empty, "rb") as handle:
        assert probe_audio(handle).error == "recording is empty (0 bytes)"


# -- 2. truncated WAV -------------------------------------------------------------------------


def test_a_truncated_wav_fails_as_truncated_with_the_duration_it_really_holds(tmp_path):
    # Decision: failed, not completed as a partial call. The usual cause is a copy in flight;
    # a completed call is never looked at again, a failed one is retried by a later run.
    write_truncated_wav(day_folder(tmp_path) / "cut.wav", seconds=10.0, keep=0.25)
    rec = by_name(discover(tmp_path))["cut.wav"]
    assert rec.probe_error is not None and rec.probe_error.startswith("recording is truncated")
    assert "promises 10.0 s" in rec.probe_error and "holds 2.5 s" in rec.probe_error
    assert rec.duration_s == pytest.approx(2.5, abs=0.01)


def test_a_wav_a_few_bytes_short_is_not_called_truncated(tmp_path):
    path = write_wav(tmp_path / "sloppy.wav", seconds=3.0)
    path.write_bytes(path.read_bytes()[:-3])  # a writer's rounding, not a cut file
    result = probe_audio(str(path))
    assert result.error is None and result.duration_s == pytest.approx(3.0, abs=0.01)


# -- 3. text with an audio extension ------------------------------------------------------------


@pytest.mark.parametrize("ext", ["wav", "mp3", "flac", "aac", "m4a", "ogg", "amr", "webm"])
def test_a_text_file_with_an_audio_extension_is_unreadable_audio(tmp_path, ext):
    (day_folder(tmp_path) / f"notes.{ext}").write_text("Call the customer back on Tuesday.\n" * 40)
    rec = discover(tmp_path).recordings[0]
    assert rec.probe_error is not None and rec.probe_error.startswith("unreadable audio")
    assert rec.duration_s is None


def test_garbage_that_syncs_a_demuxer_is_unreadable_audio_not_a_recording(tmp_path):
    import random

    rng = random.Random(1)  # this seed makes FFmpeg's raw AAC demuxer "find" a 0 Hz, 5-channel stream
    path = tmp_path / "noise.aac"
    path.write_bytes(bytes(rng.getrandbits(8) for _ in range(5000)))
    result = probe_audio(str(path))
    assert result.error is not None and result.error.startswith("unreadable audio")


# -- 4. three or more channels ------------------------------------------------------------------


def test_a_recording_with_more_than_two_channels_keeps_one_party_per_channel(tmp_path):
    # Decision (callmine.probe): channel diarization, one party per channel; nothing mixed away.
    write_wav(day_folder(tmp_path) / "conference.wav", seconds=40.0, channels=4)
    rec = discover(tmp_path).recordings[0]
    assert (rec.channels, rec.duration_s, rec.probe_error) == (4, 40.0, None)
    assert rec.diarization is Diarization.CHANNEL
    with FakePyAIServer(FakeConfig(latency_s=0.05)) as fake:
        provider = PyAIProvider(hook=PyAIHook(endpoint=PyAIEndpoint(fake.base_url, fake.api_key), backoff=FAST))
        request = JobRequest(call_id=rec.call_id, diarization=rec.diarization, speakers=2, idempotency_key="k4")
        content = Path(rec.source_uri.removeprefix("file://")).read_bytes()
        job_id = provider.submit(request, AudioSource(rec.filename, content=content)).job_id

        async def fetched():
            async with provider.async_client() as client:
                for _ in range(200):
                    if (await provider.apoll(client, job_id)).terminal:
                        return await provider.afetch(client, job_id, rec.diarization)
                    await asyncio.sleep(0.02)
            raise AssertionError("job never finished")

        transcript = asyncio.run(fetched()).transcript
    assert len(transcript.speakers) > 2 and set(transcript.speakers) <= {"ch0", "ch1", "ch2", "ch3"}


# -- 5. telephony and wideband sample rates -------------------------------------------------------


@pytest.mark.parametrize(("rate", "channels", "seconds"), [(8000, 1, 3.5), (8000, 2, 2.0), (48000, 1, 2.5),
                                                           (48000, 2, 4.0)])
def test_8khz_and_48khz_recordings_are_probed_for_duration_and_channels(tmp_path, rate, channels, seconds):
    write_wav(day_folder(tmp_path) / f"call-{rate}.wav", seconds=seconds, channels=channels, rate=rate)
    rec = discover(tmp_path).recordings[0]
    assert (rec.duration_s, rec.channels, rec.probe_error) == (seconds, channels, None)
    assert probe_audio(rec.source_uri.removeprefix("file://")).sample_rate == rate


# -- 6. longer than the provider's limit ------------------------------------------------------------


def test_a_recording_longer_than_the_providers_limit_fails_and_is_never_submitted(tmp_path, fake):
    write_wav(day_folder(tmp_path) / "long.wav", seconds=8.0)
    write_wav(day_folder(tmp_path) / "short.wav", seconds=3.0, seed=2)
    found = by_name(discover(tmp_path, max_duration_s=5))
    assert found["long.wav"].probe_error == "longer than the provider's limit of 5 s (8.0 s of audio)"
    assert found["short.wav"].probe_error is None
    assert by_name(discover(tmp_path))["long.wav"].probe_error is None  # no limit by default

    submission = submit(tmp_path, max_duration_s=5)
    assert fake.stats()["jobs_created"] == 1 and len(submission["jobs"]) == 1
    outcomes = stage(tmp_path, wait(submission))
    assert outcomes["long.wav"] == ("failed", "longer than the provider's limit of 5 s (8.0 s of audio)")
    assert outcomes["short.wav"] == ("completed", None)


# -- 7. hostile file names ---------------------------------------------------------------------


HOSTILE_NAMES = [
    "with space.wav",
    "it's \"quoted\".wav",
    "new\nline.wav",
    "..leading-dots.wav",
    "a..b.wav",
    ".../inside-a-dots-folder.wav",
    "hash#q?x=1 %20.wav",
    "caf\u00e9 \u901a\u8bdd.wav",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_file_names_get_stable_call_ids_and_uris_that_round_trip(tmp_path, name):
    path = write_wav(day_folder(tmp_path) / name, seed=7)
    first, second = discover(tmp_path), discover(tmp_path)
    [rec] = first.recordings
    assert rec.probe_error is None and rec.filename == name.rsplit("/", 1)[-1]
    assert rec.call_id == second.recordings[0].call_id == make_call_id(rec.source_uri)
    with fsspec.open(rec.source_uri, "rb") as handle:  # what the submit step does with it
        assert handle.read() == path.read_bytes()
    assert Recording.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec  # XCom


def test_a_source_root_spelled_with_dot_segments_gives_the_same_call_ids(tmp_path):
    write_wav(day_folder(tmp_path) / "a.wav")
    (tmp_path / "elsewhere").mkdir()
    plain = discover(tmp_path).recordings[0]
    for spelling in (f"{tmp_path}/elsewhere/../recordings", f"{tmp_path}/./recordings/", f"{tmp_path}//recordings"):
        other = find_recordings(spelling, DAY).recordings[0]
        assert (other.call_id, other.source_uri) == (plain.call_id, plain.source_uri)


def test_a_name_that_is_not_utf8_is_skipped_with_a_log_line_naming_it_escaped(tmp_path, caplog):
    # Decision: skipped (it cannot be stored as UTF-8 text in the warehouse), named in the log.
    folder = os.fsencode(day_folder(tmp_path))
    with open(folder + b"/caf\xe9-latin1.wav", "wb") as handle:
        handle.write(write_wav(tmp_path / "src.wav").read_bytes())
    write_wav(day_folder(tmp_path) / "fine.wav")
    with caplog.at_level(logging.WARNING, logger="callmine.discovery"):
        found = discover(tmp_path)
    assert [r.filename for r in found.recordings] == ["fine.wav"]
    assert [p.rsplit("/", 1)[-1] for p in found.unrepresentable] == ["caf\\xe9-latin1.wav"]
    [line] = [r.getMessage() for r in caplog.records if "latin1" in r.getMessage()]
    assert "caf\\xe9-latin1.wav" in line and "not valid UTF-8" in line
    line.encode("utf-8")  # the log line itself is printable text (no surrogates)


def test_a_name_fsspec_would_read_as_a_chain_is_skipped_with_a_log_line(tmp_path, caplog):
    write_wav(day_folder(tmp_path) / "agent::7.wav")
    with caplog.at_level(logging.WARNING, logger="callmine.discovery"):
        found = discover(tmp_path)
    assert found.recordings == [] and [p.rsplit("/", 1)[-1] for p in found.unrepresentable] == ["agent::7.wav"]
    assert any("agent::7.wav" in r.getMessage() and "'::'" in r.getMessage() for r in caplog.records)


def test_a_newline_in_a_name_never_splits_a_log_line(tmp_path, caplog):
    (day_folder(tmp_path) / "evil\nINFO forged.wav").write_bytes(b"")
    with caplog.at_level(logging.INFO, logger="callmine.discovery"):
        discover(tmp_path)
    assert all("\n" not in r.getMessage() for r in caplog.records)


# -- 8. symlinks ----------------------------------------------------------------------------------


def test_symlinks_pointing_outside_the_source_root_are_ignored_with_a_log_line(tmp_path, caplog):
    secret = write_wav(tmp_path / "private" / "someone-else.wav", seed=5)
    folder = day_folder(tmp_path)
    write_wav(folder / "real.wav")
    (folder / "escape.wav").symlink_to(secret)
    (folder / "escape-folder").symlink_to(secret.parent, target_is_directory=True)
    (folder / "alias.wav").symlink_to(folder / "real.wav")  # inside the root: fine
    with caplog.at_level(logging.WARNING, logger="callmine.discovery"):
        found = discover(tmp_path)
    assert sorted(r.filename for r in found.recordings) == ["alias.wav", "real.wav"]
    assert sorted(p.rsplit("/", 1)[-1] for p in found.outside_root) == ["escape-folder", "escape.wav"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("escape.wav" in m and "outside the source root" in m for m in messages)
    alias = by_name(found)["alias.wav"]
    assert (alias.duration_s, alias.size_bytes) == (3.0, (folder / "real.wav").stat().st_size)


def test_broken_and_looping_symlinks_and_fifos_are_ignored_without_hanging(tmp_path, caplog):
    folder = day_folder(tmp_path)
    write_wav(folder / "real.wav")
    (folder / "gone.wav").symlink_to(folder / "deleted.wav")
    (folder / "loop.wav").symlink_to(folder / "loop.wav")
    os.mkfifo(folder / "pipe.wav")  # opening it would block the run forever
    with caplog.at_level(logging.WARNING, logger="callmine.discovery"):
        found = discover(tmp_path)
    assert [r.filename for r in found.recordings] == ["real.wav"]
    assert sorted(p.rsplit("/", 1)[-1] for p in found.ignored) == ["gone.wav", "loop.wav", "pipe.wav"]
    assert sum("ignoring" in r.getMessage() for r in caplog.records) == 3


# -- 9. a recording still being written -------------------------------------------------------------


@pytest.mark.parametrize("change", ["grows", "touched", "vanishes"])
def test_a_recording_that_changes_while_probed_is_left_for_the_next_run(tmp_path, monkeypatch, caplog, change):
    # Decision: skipped this run with a warning; the next run probes the settled file.
    path = write_wav(day_folder(tmp_path) / "live.wav", seconds=3.0)
    write_wav(day_folder(tmp_path) / "settled.wav", seconds=2.0)
    real_probe = discovery.probe_audio

    def probe_while_writing(source):
        result = real_probe(source)
        if getattr(source, "path", "").endswith("live.wav") or str(getattr(source, "name", "")).endswith("live.wav"):
            if change == "grows":
                with open(path, "ab") as handle:
                    handle.write(b"\0" * 16000)
            elif change == "touched":
                os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 30))
            else:
                path.unlink()
        return result

    monkeypatch.setattr(discovery, "probe_audio", probe_while_writing)
    with caplog.at_level(logging.WARNING, logger="callmine.discovery"):
        found = discover(tmp_path)
    assert [r.filename for r in found.recordings] == ["settled.wav"]
    assert [p.rsplit("/", 1)[-1] for p in found.unsettled] == ["live.wav"]
    assert any("live.wav" in r.getMessage() and "next run" in r.getMessage() for r in caplog.records)

    monkeypatch.setattr(discovery, "probe_audio", real_probe)
    later = by_name(discover(tmp_path))  # the next run: the file has settled (or is gone for good)
    if change == "vanishes":
        assert set(later) == {"settled.wav"}
    else:
        assert later["live.wav"].probe_error is None and later["live.wav"].size_bytes == path.stat().st_size


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


def test_a_folder_that_cannot_be_listed_is_logged_not_silently_empty(tmp_path, monkeypatch, caplog):
    from fsspec.implementations.local import LocalFileSystem

    write_wav(day_folder(tmp_path) / "locked" / "hidden.wav")
    write_wav(day_folder(tmp_path) / "open.wav")
    real_ls = LocalFileSystem.ls

    def ls(self, path, *args, **kwargs):
        if str(path).rstrip("/").endswith("locked"):  # what a folder without read permission does
            raise PermissionError(13, "Permission denied", path)
        return real_ls(self, path, *args, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "ls", ls)
    with caplog.at_level(logging.WARNING, logger="callmine.discovery"):
        found = discover(tmp_path)
    assert [r.filename for r in found.recordings] == ["open.wav"]
    assert [p.rsplit("/", 1)[-1] for p in found.unlisted] == ["locked"]
    assert any("locked" in r.getMessage() and "Permission denied" in r.getMessage() for r in caplog.records)


def test_only_failures_a_later_run_may_not_meet_again_are_retryable():
    assert discovery.probe_error_retryable("recording is truncated: its WAV header promises 8.0 s ...")
    assert discovery.probe_error_retryable("cannot read recording: Permission denied")
    assert discovery.probe_error_retryable("recording is empty (0 bytes)")  # created, not yet written
    for final in ("unreadable audio: the file holds text, not audio", "no audio stream in the file",
                  "longer than the provider's limit of 6 s (9.0 s of audio)", None):
        assert not discovery.probe_error_retryable(final)
