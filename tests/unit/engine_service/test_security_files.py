"""Attack: ``audio_url: file://...`` reading local files, probing their existence, leaking paths."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from include.engine.config import LOCAL_FILE_ROOTS, PROJECT_ROOT, EngineConfig, parse_args
from include.engine.sources import FETCH_FAILED, FILE_URL_REFUSED
from tests.unit.engine_service.helpers import (
    JOBS, EngineServer, engine_config, make_wav, upload, wait_done, wait_status, write_wav,
)
from tests.unit.engine_service.security_helpers import KEY_A, assert_no_leak

SECRET_MARKER = b"TOP-SECRET-AUDIO-MARKER"


class Layout:
    def __init__(self, base: Path) -> None:
        self.root = base / "recordings"  # the only file root
        self.data_dir = self.root / "engine-data"  # inside the root on purpose: must stay unreadable
        self.outside = base / "outside"
        self.secret = write_wav(self.outside / "secret.wav", seconds=3.0)
        with self.secret.open("ab") as out:
            out.write(SECRET_MARKER)
        self.allowed = write_wav(self.root / "allowed.wav", seconds=2.0)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path)


@pytest.fixture
def client(layout: Layout) -> Iterator[httpx.Client]:
    config = engine_config(layout.data_dir, api_keys=(KEY_A,), workers=1, file_roots=(layout.root,))
    with EngineServer(config) as server, server.client(KEY_A) as c:
        yield c


def submit(client: httpx.Client, url: str) -> httpx.Response:
    return client.post(JOBS, json={"audio_url": url})


def assert_refused(response: httpx.Response, layout: Layout) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"] == FILE_URL_REFUSED
    assert_no_leak(response.text, layout.outside, layout.root, layout.data_dir, "secret", SECRET_MARKER.decode(),
                   "exist", "No such file", "denied")
    del body["request_id"]
    return body


def test_a_file_under_the_roots_is_transcribed(client: httpx.Client, layout: Layout) -> None:
    job = submit(client, layout.allowed.as_uri())
    assert job.status_code == 202
    assert wait_done(client, job.json()["job_id"]).json()["result"]["audio_seconds"] == pytest.approx(2.0)


def test_a_file_outside_the_roots_is_refused_whether_or_not_it_exists(client: httpx.Client, layout: Layout) -> None:
    existing = assert_refused(submit(client, layout.secret.as_uri()), layout)
    missing = assert_refused(submit(client, (layout.outside / "missing.wav").as_uri()), layout)
    missing_dir = assert_refused(submit(client, "file:///no/such/dir/x.wav"), layout)
    etc = assert_refused(submit(client, "file:///etc/passwd"), layout)
    assert existing == missing == missing_dir == etc  # one answer: existence is not revealed
    assert client.get(JOBS).json()["data"] == []  # nothing was queued


@pytest.mark.parametrize("trick", ["symlink", "dotdot", "encoded-dotdot", "host", "directory", "data-dir", "fifo"])
def test_escapes_from_the_roots_are_refused(client: httpx.Client, layout: Layout, trick: str) -> None:
    if trick == "symlink":
        link = layout.root / "innocent.wav"
        link.symlink_to(layout.secret)
        url = link.as_uri()
    elif trick == "dotdot":
        url = f"file://{layout.root}/../outside/secret.wav"
    elif trick == "encoded-dotdot":
        url = f"file://{layout.root}/%2e%2e/outside/secret.wav"
    elif trick == "host":
        url = f"file://evil.example{layout.allowed}"
    elif trick == "directory":
        url = layout.root.as_uri()
    elif trick == "fifo":
        os.mkfifo(layout.root / "pipe.wav")
        url = (layout.root / "pipe.wav").as_uri()
    else:  # another tenant's upload or a result in the data dir, even though the root contains it
        url = write_wav(layout.data_dir / "audio" / "job_other_tenant.wav").as_uri()
    assert_refused(submit(client, url), layout)


def test_a_symlinked_folder_escaping_the_root_is_refused(client: httpx.Client, layout: Layout) -> None:
    (layout.root / "calls").symlink_to(layout.outside, target_is_directory=True)
    assert_refused(submit(client, (layout.root / "calls" / "secret.wav").as_uri()), layout)


def test_a_symlink_within_the_root_is_followed(client: httpx.Client, layout: Layout) -> None:
    link = layout.root / "alias.wav"
    link.symlink_to(layout.allowed)
    job = submit(client, link.as_uri())
    assert job.status_code == 202
    assert wait_done(client, job.json()["job_id"]).json()["status"] == "completed"


def test_a_file_swapped_for_an_escaping_symlink_after_submit_is_not_read(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    config = engine_config(layout.data_dir, api_keys=(KEY_A,), workers=1, file_roots=(layout.root,))
    with EngineServer(config) as server, server.client(KEY_A) as client:
        busy = upload(client, make_wav(1.0), filename="sleep-1500ms.wav").json()["job_id"]  # holds the one worker
        wait_status(client, busy, "processing")
        victim = write_wav(layout.root / "later.wav")
        job = submit(client, victim.as_uri()).json()["job_id"]
        victim.unlink()
        victim.symlink_to(layout.secret)  # checked again right before processing
        body = wait_done(client, job).json()
    assert body["status"] == "failed"
    assert body["error"] == {"code": "audio_fetch_failed", "message": FETCH_FAILED}
    assert_no_leak(str(body), layout.outside, "secret", SECRET_MARKER.decode(), "segment")


def test_with_keys_and_no_roots_configured_file_urls_are_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    config = engine_config(layout.data_dir, api_keys=(KEY_A,), workers=1, file_roots=None)
    assert config.file_roots_in_force() == ()
    with EngineServer(config) as server, server.client(KEY_A) as client:
        assert_refused(submit(client, layout.allowed.as_uri()), layout)


def test_root_defaults_per_mode(tmp_path: Path) -> None:
    assert EngineConfig(host="127.0.0.1").file_roots_in_force() == LOCAL_FILE_ROOTS
    assert LOCAL_FILE_ROOTS == (PROJECT_ROOT / "data" / "recordings", PROJECT_ROOT / "include" / "samples")
    assert EngineConfig(host="127.0.0.1", api_keys=(KEY_A,)).file_roots_in_force() == ()
    assert EngineConfig(host="0.0.0.0", insecure_open=True).file_roots_in_force() == ()
    env = {"CALLMINE_ENGINE_FILE_ROOTS": os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])}
    assert parse_args([], env).file_roots_in_force() == (tmp_path / "a", tmp_path / "b")
    assert parse_args([], {"CALLMINE_ENGINE_FILE_ROOTS": ""}).file_roots_in_force() == ()
    assert parse_args(["--file-roots", ""], {}).file_roots_in_force() == ()


def test_job_errors_never_show_internal_paths(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    config = engine_config(layout.data_dir, api_keys=(KEY_A,), workers=1, file_roots=(layout.root,))
    with EngineServer(config) as server, server.client(KEY_A) as client:
        garbage = upload(client, b"\x00\x13garbage" * 200, filename="junk.wav").json()["job_id"]
        raising = upload(client, filename="raise.wav").json()["job_id"]
        time.sleep(0.1)
        bodies = [wait_done(client, garbage).json(), wait_done(client, raising).json()]
    for body in bodies:
        assert body["status"] == "failed"
        assert_no_leak(body["error"]["message"], layout.data_dir, str(layout.data_dir.resolve()), "job_", "/audio/",
                       ".download", "tmp")
    assert bodies[0]["error"]["message"].startswith("could not decode audio: ")
