"""Discovery: which files are a day's recordings."""

from __future__ import annotations

import os
from datetime import date, datetime, timezone

from callmine.discovery import call_date_of, find_recordings
from callmine.recordings import make_call_id
from tests.audio import write_wav

DAY = date(2026, 11, 20)


def test_call_date_comes_from_a_dated_folder_path():
    assert call_date_of("2026/11/20/agent7.wav", None) == DAY


def test_call_date_comes_from_a_date_in_the_file_name():
    assert call_date_of("inbox/call-2026-11-20-1432.mp3", None) == DAY


def test_folder_date_wins_over_file_name_date():
    assert call_date_of("2026/11/20/call-2026-11-19.wav", None) == DAY


def test_call_date_falls_back_to_modification_time_in_utc():
    modified = datetime(2026, 11, 20, 23, 30, tzinfo=timezone.utc)
    assert call_date_of("inbox/call.wav", modified) == DAY


def test_impossible_dates_are_not_taken_for_call_dates():
    modified = datetime(2026, 11, 20, tzinfo=timezone.utc)
    assert call_date_of("inbox/2026-13-45.wav", modified) == DAY


def test_only_the_days_recordings_are_found(tmp_path):
    write_wav(tmp_path / "2026/11/20/a.wav")
    write_wav(tmp_path / "2026/11/21/b.wav")
    write_wav(tmp_path / "flat/c-2026-11-20.wav")
    found = find_recordings(str(tmp_path), DAY)
    assert sorted(r.filename for r in found.recordings) == ["a.wav", "c-2026-11-20.wav"]
    # A dated layout: 2026/11/21/ is never listed, so b.wav is not even counted as another date's.
    assert (found.listed, found.other_dates) == (["2026/11/20/", "flat/"], 0)


def test_modification_time_dates_undated_files(tmp_path):
    path = write_wav(tmp_path / "inbox/call.wav")
    stamp = datetime(2026, 11, 20, 12, tzinfo=timezone.utc).timestamp()
    os.utime(path, (stamp, stamp))
    assert [r.filename for r in find_recordings(str(tmp_path), DAY).recordings] == ["call.wav"]


def test_non_audio_files_are_ignored_and_listed(tmp_path):
    write_wav(tmp_path / "2026/11/20/a.wav")
    (tmp_path / "2026/11/20/notes.txt").write_text("not audio")
    found = find_recordings(str(tmp_path), DAY)
    assert [r.filename for r in found.recordings] == ["a.wav"]
    assert [p.rsplit("/", 1)[-1] for p in found.ignored] == ["notes.txt"]


def test_extension_match_ignores_case(tmp_path):
    write_wav(tmp_path / "2026/11/20/LOUD.WAV")
    assert [r.format for r in find_recordings(str(tmp_path), DAY).recordings] == ["wav"]


def test_already_loaded_recordings_are_skipped(tmp_path):
    write_wav(tmp_path / "2026/11/20/a.wav")
    write_wav(tmp_path / "2026/11/20/b.wav")
    first = find_recordings(str(tmp_path), DAY)
    loaded = next(r.call_id for r in first.recordings if r.filename == "a.wav")
    second = find_recordings(str(tmp_path), DAY, skip_call_ids={loaded})
    assert [r.filename for r in second.recordings] == ["b.wav"]
    assert second.already_loaded == [loaded]


def test_call_id_is_stable_across_runs(tmp_path):
    write_wav(tmp_path / "2026/11/20/a.wav")
    ids = [find_recordings(str(tmp_path), DAY).recordings[0].call_id for _ in range(2)]
    assert ids[0] == ids[1] == make_call_id(f"file://{tmp_path}/2026/11/20/a.wav")


def test_recordings_are_probed_for_duration_and_channels(tmp_path):
    write_wav(tmp_path / "2026/11/20/stereo.wav", seconds=2.0, channels=2)
    rec = find_recordings(str(tmp_path), DAY).recordings[0]
    assert (rec.duration_s, rec.channels, rec.probe_error) == (2.0, 2, None)


def test_corrupt_recording_is_kept_with_its_reason(tmp_path):
    (tmp_path / "2026/11/20").mkdir(parents=True)
    (tmp_path / "2026/11/20/broken.wav").write_bytes(b"RIFF....not really a wave file" * 10)
    rec = find_recordings(str(tmp_path), DAY).recordings[0]
    assert rec.probe_error and "unreadable audio" in rec.probe_error


def test_empty_file_is_kept_with_its_reason(tmp_path):
    (tmp_path / "2026/11/20").mkdir(parents=True)
    (tmp_path / "2026/11/20/empty.mp3").write_bytes(b"")
    rec = find_recordings(str(tmp_path), DAY).recordings[0]
    assert rec.probe_error == "recording is empty (0 bytes)"


def test_fsspec_memory_source_is_listed(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/calls/2026/11/20/m.wav", write_wav(tmp_path / "m.wav").read_bytes())
    found = find_recordings("memory://calls", DAY)
    assert [r.source_uri for r in found.recordings] == [fs.unstrip_protocol("/calls/2026/11/20/m.wav")]
    assert found.recordings[0].channels == 1


def test_a_missing_source_is_an_error_not_an_empty_day(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_recordings(str(tmp_path / "nope"), DAY)


def test_an_existing_empty_source_is_an_empty_day(tmp_path):
    assert find_recordings(str(tmp_path), DAY).recordings == []
