"""Discovery lists only the day folders it needs when the source is laid out by date.

Decisions: ``callmine.discovery`` (module docstring). A spy on the filesystems' ``ls`` and
``find`` records every folder listed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import fsspec
import pytest
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from callmine.discovery import find_recordings, find_recordings_of_dates
from callmine.pipeline import plan_day
from callmine.recordings import RunSettings, make_batches
from tests.audio import write_wav

DAY = date(2026, 11, 20)
OTHER_DAYS = (date(2025, 11, 20), date(2026, 10, 20), date(2026, 11, 19), date(2026, 11, 21))


@pytest.fixture
def listed(monkeypatch) -> list[str]:
    """Every path a local or memory filesystem was asked to list (``ls`` or ``find``)."""
    paths: list[str] = []
    for cls in (LocalFileSystem, MemoryFileSystem):
        for method in ("ls", "find"):
            real = getattr(cls, method)

            def spy(self, path, *args, _real=real, **kwargs):
                paths.append(str(path).rstrip("/"))
                return _real(self, path, *args, **kwargs)

            monkeypatch.setattr(cls, method, spy)
    return paths


@pytest.fixture
def memory_root(tmp_path):
    """A fresh root on fsspec's memory filesystem (shared by the process: removed afterwards)."""
    fs = fsspec.filesystem("memory")
    root = f"/dated-{uuid.uuid4().hex[:8]}"
    wav = write_wav(tmp_path / "m.wav").read_bytes()
    yield fs, root, wav
    if fs.exists(root):
        fs.rm(root, recursive=True)


def names(found) -> list[str]:
    return sorted(r.filename for r in found.recordings)


def dated_archive(root: Path) -> None:
    """Two recordings a day (one in a subfolder) on the day and on days around it."""
    for day in (DAY, *OTHER_DAYS):
        write_wav(root / f"{day:%Y/%m/%d}" / f"agent1-{day:%d}.wav")
        write_wav(root / f"{day:%Y/%m/%d}" / "sub" / f"agent2-{day:%d}.wav")


def under(path: str, folder: Path) -> bool:
    return path == str(folder) or path.startswith(f"{folder}/")


def test_a_dated_local_source_lists_only_the_wanted_day_folder(tmp_path, listed):
    dated_archive(tmp_path)
    found = find_recordings(str(tmp_path), DAY, probe=False)
    assert names(found) == ["agent1-20.wav", "agent2-20.wav"]
    assert (found.listed, found.full_walk, found.files_listed) == (["2026/11/20/"], None, 2)
    skeleton = {str(tmp_path), f"{tmp_path}/2025", f"{tmp_path}/2026", f"{tmp_path}/2025/11", f"{tmp_path}/2026/10",
                f"{tmp_path}/2026/11"}
    assert [p for p in listed if p not in skeleton and not under(p, tmp_path / "2026/11/20")] == []
    assert f"{tmp_path}/2026/11/20/sub" in listed  # the day folder is listed recursively


def test_a_dated_memory_source_lists_only_the_wanted_day_folder(memory_root, listed):
    fs, root, wav = memory_root
    for day in (date(2026, 11, 19), DAY, date(2026, 11, 21), date(2025, 1, 2)):
        fs.pipe(f"{root}/{day:%Y/%m/%d}/deep/er/call-{day:%d}.wav", wav)
    found = find_recordings(f"memory://{root}", DAY)
    assert [r.source_uri for r in found.recordings] == [fs.unstrip_protocol(f"{root}/2026/11/20/deep/er/call-20.wav")]
    assert found.recordings[0].channels == 1  # probed like any recording
    assert found.listed == ["2026/11/20/"]
    skeleton = {root, f"{root}/2025", f"{root}/2026", f"{root}/2025/01", f"{root}/2026/11"}
    assert [p for p in listed if p not in skeleton and not p.startswith(f"{root}/2026/11/20")] == []


def test_lookback_days_are_found_in_one_pass_each_with_its_own_date(tmp_path, listed):
    dated_archive(tmp_path)
    wanted = {DAY: set(), date(2026, 11, 19): set(), date(2026, 11, 18): set()}
    found = find_recordings_of_dates(str(tmp_path), wanted, probe=False)
    assert listed.count(str(tmp_path)) == 1  # the root is listed once, not once per day
    assert found.listed == ["2026/11/19/", "2026/11/20/"]  # the 18th has no folder: nothing to list
    assert {r.filename: r.call_date for r in found.recordings} == {
        "agent1-19.wav": "2026-11-19", "agent2-19.wav": "2026-11-19",
        "agent1-20.wav": "2026-11-20", "agent2-20.wav": "2026-11-20"}
    assert [r.filename for r in found.of_date(date(2026, 11, 19))] == ["agent1-19.wav", "agent2-19.wav"]


def test_each_lookback_day_skips_only_its_own_loaded_call_ids(tmp_path):
    dated_archive(tmp_path)
    before = find_recordings_of_dates(str(tmp_path), {DAY: (), date(2026, 11, 19): ()}, probe=False)
    loaded_19 = next(r.call_id for r in before.recordings if r.filename == "agent1-19.wav")
    loaded_20 = next(r.call_id for r in before.recordings if r.filename == "agent2-20.wav")
    found = find_recordings_of_dates(str(tmp_path), {DAY: {loaded_20}, date(2026, 11, 19): {loaded_19}}, probe=False)
    assert names(found) == ["agent1-20.wav", "agent2-19.wav"]
    assert found.already_loaded_by_date == {DAY: 1, date(2026, 11, 19): 1}


def test_plan_day_walks_the_source_once_for_the_day_and_its_lookback_days(tmp_path, listed):
    dated_archive(tmp_path / "in")
    settings = RunSettings(call_date=DAY.isoformat(), run_id="manual__1", source_uri=str(tmp_path / "in"),
                           warehouse_uri=str(tmp_path / "wh"), insights="off")
    planned = plan_day(settings, batch_size=3, lookback_days=2)
    assert listed.count(str(tmp_path / "in")) == 1
    # The same batches as one discovery per day (what plan_day did before).
    one_by_one = [r for back in range(3)
                  for r in find_recordings(settings.source_uri, date(2026, 11, 20 - back)).recordings]
    assert planned == [b.to_dict() for b in make_batches(one_by_one, settings, 3)]
    assert sum(len(b["recordings"]) for b in planned) == 4


def test_a_flat_source_falls_back_to_a_full_walk_and_says_why(tmp_path, caplog):
    write_wav(tmp_path / "inbox/call-2026-11-20-0900.wav")
    write_wav(tmp_path / "inbox/agent7/call-2026-11-19-1000.wav")
    write_wav(tmp_path / "call-2026-11-20-1100.wav")
    with caplog.at_level(logging.INFO, logger="callmine.discovery"):
        found = find_recordings(str(tmp_path), DAY, probe=False)
    assert names(found) == ["call-2026-11-20-0900.wav", "call-2026-11-20-1100.wav"]
    assert (found.listed, found.files_listed, found.other_dates) == ([""], 3, 1)
    assert "flat layout" in found.full_walk
    assert any("walked the whole tree because" in r.getMessage() and "no year folder" in r.getMessage()
               and "3 file(s)" in r.getMessage() for r in caplog.records)


def test_a_mixed_root_keeps_its_loose_files_and_folders(tmp_path, listed):
    dated_archive(tmp_path)
    write_wav(tmp_path / "loose-2026-11-20.wav")
    write_wav(tmp_path / "inbox/deep/x-2026-11-20.wav")
    undated = write_wav(tmp_path / "inbox/undated.wav")
    stamp = datetime(2026, 11, 20, 12, tzinfo=timezone.utc).timestamp()
    os.utime(undated, (stamp, stamp))
    found = find_recordings(str(tmp_path), DAY, probe=False)
    assert names(found) == ["agent1-20.wav", "agent2-20.wav", "loose-2026-11-20.wav", "undated.wav",
                            "x-2026-11-20.wav"]
    assert (found.listed, found.outside_files) == (["2026/11/20/", "inbox/"], 1)
    assert not [p for p in listed for day in OTHER_DAYS if under(p, tmp_path / f"{day:%Y/%m/%d}")]


def test_whatever_in_a_year_folder_is_not_a_valid_day_folder_is_listed_fully(tmp_path):
    dated_archive(tmp_path)
    write_wav(tmp_path / "2026/notes/a-2026-11-20.wav")  # not a month folder
    write_wav(tmp_path / "2026/11/b-2026-11-20.wav")  # a file among the day folders
    write_wav(tmp_path / "2026/02/30/c-2026-11-20.wav")  # no such day: dated by its name
    write_wav(tmp_path / "2025/11/5/d-2026-11-20.wav")  # one digit: not the layout
    found = find_recordings(str(tmp_path), DAY, probe=False)
    assert names(found) == ["a-2026-11-20.wav", "agent1-20.wav", "agent2-20.wav", "b-2026-11-20.wav",
                            "c-2026-11-20.wav", "d-2026-11-20.wav"]
    assert found.listed == ["2026/11/20/", "2025/11/5/", "2026/02/30/", "2026/notes/"]
    assert found.outside_files == 1  # 2026/11/b-2026-11-20.wav, from the listing of 2026/11/


def test_a_four_digit_folder_that_is_not_a_year_loses_nothing(tmp_path):
    write_wav(tmp_path / "1234/call-2026-11-20.wav")  # agent 1234, flat inside
    write_wav(tmp_path / "1234/05/x/call-2026-11-20-b.wav")
    found = find_recordings(str(tmp_path), DAY, probe=False)
    assert names(found) == ["call-2026-11-20-b.wav", "call-2026-11-20.wav"]
    assert (found.full_walk, found.listed, found.outside_files) == (None, ["1234/05/x/"], 1)


def test_a_missing_day_folder_is_an_empty_day_not_an_error(tmp_path, caplog):
    write_wav(tmp_path / "2026/11/19/a.wav")
    with caplog.at_level(logging.INFO, logger="callmine.discovery"):
        found = find_recordings(str(tmp_path), DAY, probe=False)
    assert (found.recordings, found.listed, found.unlisted, found.full_walk) == ([], [], [], None)
    assert any("no folder 2026/11/20/ for call date 2026-11-20" in r.getMessage() for r in caplog.records)


def test_a_file_in_a_dated_folder_follows_the_folder_not_the_date_in_its_name(tmp_path):
    write_wav(tmp_path / "2026/11/20/call-2026-11-19.wav")
    write_wav(tmp_path / "2026/11/19/other.wav")
    both = find_recordings_of_dates(str(tmp_path), {DAY: (), date(2026, 11, 19): ()}, probe=False)
    assert {r.filename: r.call_date for r in both.recordings} == {"call-2026-11-19.wav": "2026-11-20",
                                                                  "other.wav": "2026-11-19"}
    assert names(find_recordings(str(tmp_path), date(2026, 11, 19), probe=False)) == ["other.wav"]


def test_dated_listing_finds_exactly_what_a_full_walk_finds(tmp_path):
    dated_archive(tmp_path)
    write_wav(tmp_path / "2026/11/20/2026/11/19/nested.wav")  # the first dated folder counts
    write_wav(tmp_path / "2026/13/01/name-2026-11-19.wav")
    write_wav(tmp_path / "\u0662\u0660\u0662\u0666/\u0661\u0661/\u0662\u0660/arabic-digits.wav")
    write_wav(tmp_path / "site-b/2026/11/19/elsewhere.wav")
    (tmp_path / "2026/11/20/notes.txt").write_text("not audio")
    wanted = {date(2026, 11, 18) + timedelta(days=i): () for i in range(4)}
    dated = find_recordings_of_dates(str(tmp_path), wanted, probe=False)
    walked = find_recordings_of_dates(str(tmp_path), wanted, probe=False, full_walk=True)
    assert dated.recordings == walked.recordings
    assert {r.filename for r in dated.recordings} >= {"nested.wav", "name-2026-11-19.wav", "arabic-digits.wav",
                                                      "elsewhere.wav"}
    assert walked.listed == [""] and "full_walk=True" in walked.full_walk
    assert dated.files_listed < walked.files_listed


def test_a_symlink_in_place_of_a_day_folder_is_ignored_with_a_log_line_as_before(tmp_path, caplog):
    write_wav(tmp_path / "2026/11/19/a.wav")
    (tmp_path / "2026/11/20").symlink_to(tmp_path / "2026/11/19", target_is_directory=True)
    with caplog.at_level(logging.WARNING, logger="callmine.discovery"):
        found = find_recordings(str(tmp_path), DAY, probe=False)
    assert found.recordings == [] and [p.rsplit("/", 1)[-1] for p in found.ignored] == ["20"]
    assert any("symlink to a folder" in r.getMessage() for r in caplog.records)


def test_a_year_folder_that_cannot_be_listed_is_logged_not_silently_empty(tmp_path, monkeypatch, caplog):
    dated_archive(tmp_path)
    real_ls = LocalFileSystem.ls

    def ls(self, path, *args, **kwargs):
        if str(path).rstrip("/").endswith("/2026"):
            raise PermissionError(13, "Permission denied", path)
        return real_ls(self, path, *args, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "ls", ls)
    with caplog.at_level(logging.WARNING, logger="callmine.discovery"):
        found = find_recordings(str(tmp_path), DAY, probe=False)
    assert found.recordings == [] and found.unlisted == [f"{tmp_path}/2026"]
    assert any("cannot list folder" in r.getMessage() and "Permission denied" in r.getMessage()
               for r in caplog.records)


def test_the_log_names_the_listed_day_folders_and_the_files_found(tmp_path, caplog):
    dated_archive(tmp_path)
    write_wav(tmp_path / "inbox/x-2026-11-20.wav")
    with caplog.at_level(logging.INFO, logger="callmine.discovery"):
        find_recordings(str(tmp_path), DAY, probe=False)
    messages = [r.getMessage() for r in caplog.records]
    assert any("listed 2026/11/20/ for call date 2026-11-20: 2 file(s)" in m for m in messages)
    assert any("1 entry outside the YYYY/MM/DD/ layout" in m and "1 file(s) in inbox/" in m for m in messages)
    assert any("is laid out by date" in m and "3 file(s)" in m for m in messages)


def test_the_benchmark_runs_at_a_tiny_size_and_prints_its_command_and_ratios(tmp_path, capsys):
    script = Path(__file__).resolve().parents[2] / "scripts" / "bench_discovery.py"
    spec = importlib.util.spec_from_file_location("bench_discovery", script)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    try:
        spec.loader.exec_module(bench)
        result = bench.main(["--files", "2000", "--days", "20", "--repeats", "1", "--workdir", str(tmp_path)])
    finally:
        sys.modules.pop(spec.name, None)
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("command:") and "--files 2000" in out.splitlines()[0]
    assert "ratio" in out and result["found"] == 100  # 2000 files over 20 days, the same on every variant
