"""Hostile recordings never crash a run and never lose a recording ("Nothing lost, ever").

Each case ends as a failed call with a reason (the recording's ``probe_error``) or a skip
with a log line naming the file; the rest of the run goes on. Decisions: ``callmine.discovery``,
``callmine.probe``.
"""

from __future__ import annotations

from tests.unit.hostile_support import *  # noqa: F403 - the shared fixtures and helpers


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
