"""Attack: huge request bodies, chunked (no Content-Length) so no header check can stop them.

Before: a chunked 200 MB JSON body was accepted (engine RSS 51 -> 666 MB) and a chunked
300 MB multipart upload was written to disk in full before the 413. Now the limits are
counted while the body streams: 413 at the limit, the connection closed (the rest of the
body is never read), RSS and the bytes written bounded by the limits. Measured on the
engine PROCESS (a real `python -m include.engine`), with psutil.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.unit.engine_service.helpers import JOBS
from tests.unit.engine_service.security_helpers import (
    KEY_A, CLIEngine, Counting, assert_no_leak, engine_cli, engine_env, tree_size, watch,
)

MB = 1024 * 1024
UPLOAD_LIMIT_MB = 8
JSON_LIMIT = 1 * MB  # the default
BOUNDARY = "callmine-test-boundary"
REPORT: dict[str, str] = {}


@pytest.fixture(scope="module")
def cli_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CLIEngine]:
    data_dir = tmp_path_factory.mktemp("bodies") / "data"
    env = engine_env(CALLMINE_ENGINE_API_KEYS=KEY_A)
    with engine_cli(data_dir, "--max-upload-mb", str(UPLOAD_LIMIT_MB), env=env) as engine:
        yield engine


def _client(engine: CLIEngine) -> httpx.Client:
    return httpx.Client(base_url=engine.base_url, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=60)


def _data_dir(engine: CLIEngine) -> Path:
    return Path(engine.process.args[engine.process.args.index("--data-dir") + 1])


def _multipart_head(field: str) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"big.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()


def _tail() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


def test_chunked_200mb_json_body_is_refused_at_the_limit_with_memory_bounded(cli_engine: CLIEngine) -> None:
    body = Counting()
    data_dir = _data_dir(cli_engine)
    with _client(cli_engine) as client, watch(cli_engine.process.pid, data_dir) as peaks:
        # A generator body: httpx sends it chunked, without Content-Length.
        stream = body.stream(b'{"audio_url": "http://example.com/', 200 * MB, b'"}')
        response = client.post(JOBS, content=stream, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == "JSON body too large: more than the 1.0 MB limit"
    assert response.headers["connection"] == "close"
    assert body.sent < 64 * MB, f"the engine kept reading: {body.sent / MB:.0f} MB sent"
    assert peaks.rss_growth < 32 * MB, f"RSS grew {peaks.rss_growth / MB:.1f} MB"
    assert peaks.disk_growth < 256 * 1024 and peaks.bytes_written < 256 * 1024
    assert_no_leak(response.text, str(data_dir))
    REPORT["json"] = (f"chunked 200 MB JSON: 413 after the client sent {body.sent / MB:.1f} MB; engine RSS "
                      f"+{peaks.rss_growth / MB:.1f} MB (peak), data dir +{peaks.disk_growth} B, "
                      f"write() {peaks.bytes_written} B")


@pytest.mark.parametrize(("path", "field"), [(JOBS, "audio"), ("/v1/audio/transcriptions", "file")],
                         ids=["jobs", "openai"])
def test_chunked_300mb_multipart_upload_stops_at_the_limit(cli_engine: CLIEngine, path: str, field: str) -> None:
    body = Counting()
    data_dir = _data_dir(cli_engine)
    with _client(cli_engine) as client, watch(cli_engine.process.pid, data_dir) as peaks:
        stream = body.stream(_multipart_head(field), 300 * MB, _tail())
        response = client.post(path, content=stream,
                               headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert response.status_code == 413
    text = response.text
    message = response.json()["detail"] if path == JOBS else response.json()["error"]["message"]
    assert message == f"audio too large: more than the {UPLOAD_LIMIT_MB:.1f} MB limit"
    assert response.headers["connection"] == "close"
    limit = UPLOAD_LIMIT_MB * MB
    assert body.sent < limit + 64 * MB, f"the engine kept reading: {body.sent / MB:.0f} MB sent"
    assert peaks.disk_growth <= limit, f"{peaks.disk_growth / MB:.1f} MB written to the data dir"
    assert peaks.bytes_written <= limit + 256 * 1024, f"{peaks.bytes_written / MB:.1f} MB written"
    assert peaks.rss_growth < 32 * MB, f"RSS grew {peaks.rss_growth / MB:.1f} MB"
    assert not list((data_dir / "audio").glob("*")), "the partial upload was kept"
    assert tree_size(data_dir / "audio") == 0
    assert_no_leak(text, str(data_dir), ".part", "upload_")
    REPORT[f"multipart-{field}"] = (
        f"chunked 300 MB multipart ({path}): 413 after the client sent {body.sent / MB:.1f} MB; data dir peak "
        f"+{peaks.disk_growth / MB:.2f} MB (limit {UPLOAD_LIMIT_MB} MB), write() {peaks.bytes_written / MB:.2f} MB, "
        f"engine RSS +{peaks.rss_growth / MB:.1f} MB (peak)")


def test_an_unauthenticated_chunked_body_is_not_read(cli_engine: CLIEngine) -> None:
    body = Counting()
    with httpx.Client(base_url=cli_engine.base_url, timeout=60) as anonymous, \
            watch(cli_engine.process.pid, _data_dir(cli_engine)) as peaks:
        stream = body.stream(_multipart_head("audio"), 200 * MB, _tail())
        response = anonymous.post(JOBS, content=stream,
                                  headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert response.status_code == 401 and response.headers["connection"] == "close"
    assert body.sent < 64 * MB, f"the engine kept reading: {body.sent / MB:.0f} MB sent"
    assert peaks.disk_growth == 0 and peaks.rss_growth < 32 * MB


def test_declared_oversized_bodies_are_refused_before_reading(cli_engine: CLIEngine) -> None:
    with _client(cli_engine) as client:
        big_json = client.post(JOBS, content=b"{" + b" " * (JSON_LIMIT + 10) + b"}",
                               headers={"content-type": "application/json"})
        assert big_json.status_code == 413 and "JSON body too large" in big_json.json()["detail"]
        files = {"audio": ("a.wav", b"\0" * (UPLOAD_LIMIT_MB * MB + 2 * MB), "audio/wav")}
        big_upload = client.post(JOBS, files=files)
        assert big_upload.status_code == 413
        assert big_upload.json()["detail"].startswith("audio too large (") and "MB limit)" in big_upload.json()["detail"]


def test_an_oversized_form_field_is_refused(cli_engine: CLIEngine) -> None:
    with _client(cli_engine) as client:
        response = client.post(JOBS, data={"language": "x" * (70 * 1024)}, files={"audio": ("a.wav", b"RIFF", "audio/wav")})
    assert response.status_code == 413 and "form field 'language'" in response.json()["detail"]
    assert not list((_data_dir(cli_engine) / "audio").glob("*"))


def test_the_engine_still_serves_after_the_attacks(cli_engine: CLIEngine) -> None:
    with _client(cli_engine) as client:
        assert client.get("/v1/me").status_code == 200


def test_report_measurements(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints what the tests above measured (pytest -s, or -rP) for the record."""
    with capsys.disabled():
        for line in REPORT.values():
            print("\n  " + line, end="")
