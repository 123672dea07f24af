"""Attack: ``audio_url: http://...`` as a request forgery (SSRF) and port scanner.

The engine must not fetch loopback/private/link-local/... addresses unless allowed, on
every resolved address and every redirect hop, and its error must never tell an open
port from a closed one. The servers below count every request they get: a refused
fetch must not have reached them at all.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from include.engine.outbound import AddressPolicy
from include.engine.sources import FETCH_FAILED
from tests.unit.engine_service.helpers import JOBS, EngineServer, engine_config, free_port, make_wav, upload, wait_done
from tests.unit.engine_service.security_helpers import KEY_A, RecordingServer, assert_no_leak

# 127.0.0.2 plays an "allowed" host (through CALLMINE_ENGINE_ALLOWED_NETWORKS); 127.0.0.1 is the
# protected loopback. Linux routes all of 127.0.0.0/8 to lo.
ALLOWED_HOST = "127.0.0.2"


@pytest.fixture
def internal() -> Iterator[RecordingServer]:
    server = RecordingServer("127.0.0.1")
    server.routes["/secret.wav"] = (200, {"Content-Type": "audio/wav"}, make_wav(1.0))
    yield server
    server.close()


@pytest.fixture
def allowed() -> Iterator[RecordingServer]:
    server = RecordingServer(ALLOWED_HOST)
    yield server
    server.close()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    config = engine_config(tmp_path_factory.mktemp("urls") / "engine", api_keys=(KEY_A,), workers=1, allow_private_urls=False,
                           allowed_networks=(f"{ALLOWED_HOST}/32",), fetch_timeout_s=0.5, fetch_connect_timeout_s=0.5,
                           max_redirects=3)
    with EngineServer(config) as server, server.client(KEY_A) as c:
        yield c


def fetch_error(client: httpx.Client, url: str, **fields: object) -> dict:
    submitted = client.post(JOBS, json={"audio_url": url, **fields})
    assert submitted.status_code == 202, submitted.text
    body = wait_done(client, submitted.json()["job_id"]).json()
    assert body["status"] == "failed", body
    return body["error"]


def test_open_and_closed_loopback_ports_get_the_same_answer(client: httpx.Client, internal: RecordingServer) -> None:
    closed = free_port()
    open_error = fetch_error(client, f"http://127.0.0.1:{internal.port}/secret.wav")
    closed_error = fetch_error(client, f"http://127.0.0.1:{closed}/secret.wav")
    assert open_error == closed_error == {"code": "audio_fetch_failed", "message": FETCH_FAILED}
    assert internal.hits == []  # never contacted
    assert_no_leak(str(open_error), internal.port, closed, "Connection refused", "ConnectError", "HTTP ", "blocked")


@pytest.mark.parametrize("target", [
    "http://localhost:{port}/secret.wav",
    "http://[::1]:{port}/secret.wav",
    "http://[::ffff:127.0.0.1]:{port}/secret.wav",
    "http://2130706433:{port}/secret.wav",  # 127.0.0.1 as one decimal number
    "http://127.1:{port}/secret.wav",
    "http://0.0.0.0:{port}/secret.wav",
    "https://127.0.0.1:{port}/secret.wav",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://10.0.0.1/x.wav",
    "http://192.168.0.1/x.wav",
    "http://[fd00::1]/x.wav",
    "http://224.0.0.1/x.wav",
])
def test_internal_addresses_are_refused_without_contact(client: httpx.Client, internal: RecordingServer,
                                                        target: str) -> None:
    started = time.monotonic()
    error = fetch_error(client, target.format(port=internal.port))
    assert error == {"code": "audio_fetch_failed", "message": FETCH_FAILED}
    assert internal.hits == []
    assert time.monotonic() - started < 5  # refused before any connection attempt


def test_a_redirect_from_an_allowed_host_to_loopback_is_refused(client: httpx.Client, internal: RecordingServer,
                                                                 allowed: RecordingServer) -> None:
    allowed.routes["/audio.wav"] = (302, {"Location": f"http://127.0.0.1:{internal.port}/secret.wav"}, b"")
    error = fetch_error(client, f"{allowed.url}/audio.wav")
    assert error == {"code": "audio_fetch_failed", "message": FETCH_FAILED}
    assert allowed.hits == ["/audio.wav"]
    assert internal.hits == []  # the redirect target was never contacted


def test_allowed_redirects_are_followed_and_bounded(client: httpx.Client, allowed: RecordingServer) -> None:
    allowed.routes["/start.wav"] = (301, {"Location": "/real.wav"}, b"")
    allowed.routes["/real.wav"] = (200, {}, make_wav(2.0))
    job = client.post(JOBS, json={"audio_url": f"{allowed.url}/start.wav"}).json()
    assert wait_done(client, job["job_id"]).json()["audio_seconds"] == pytest.approx(2.0)

    allowed.routes["/loop.wav"] = (302, {"Location": "/loop.wav"}, b"")
    allowed.hits.clear()
    assert fetch_error(client, f"{allowed.url}/loop.wav")["message"] == FETCH_FAILED
    assert len(allowed.hits) == 4  # the first request + max_redirects (3) hops, then it gives up


def test_redirects_to_other_schemes_are_refused(client: httpx.Client, allowed: RecordingServer) -> None:
    allowed.routes["/file.wav"] = (302, {"Location": "file:///etc/passwd"}, b"")
    assert fetch_error(client, f"{allowed.url}/file.wav")["message"] == FETCH_FAILED


def test_a_silent_server_runs_into_the_read_timeout(client: httpx.Client, allowed: RecordingServer) -> None:
    allowed.hang.add("/slow.wav")
    started = time.monotonic()
    assert fetch_error(client, f"{allowed.url}/slow.wav")["message"] == FETCH_FAILED
    assert time.monotonic() - started < 4


def test_http_errors_of_an_allowed_host_do_not_echo_details(client: httpx.Client, allowed: RecordingServer) -> None:
    allowed.routes["/gone.wav"] = (410, {}, b"internal detail of the remote")
    error = fetch_error(client, f"{allowed.url}/gone.wav")
    assert error["message"] == FETCH_FAILED
    assert_no_leak(str(error), "410", "internal detail", ".download", "job_")


def test_webhooks_to_internal_addresses_are_not_delivered(client: httpx.Client, internal: RecordingServer) -> None:
    job = upload(client, webhook_url=f"http://127.0.0.1:{internal.port}/hook").json()
    assert wait_done(client, job["job_id"]).json()["status"] == "completed"
    time.sleep(1.0)  # delivery is in the background
    assert internal.hits == []


def test_allow_private_urls_lets_loopback_through(tmp_path: Path, internal: RecordingServer) -> None:
    config = engine_config(tmp_path / "engine", api_keys=(KEY_A,), workers=1, allow_private_urls=True)
    with EngineServer(config) as server, server.client(KEY_A) as c:
        job = c.post(JOBS, json={"audio_url": f"{internal.url}/secret.wav"}).json()
        assert wait_done(c, job["job_id"]).json()["status"] == "completed"
        assert internal.hits == ["/secret.wav"]
        # Even where fetches are allowed, a listening port and a closed one fail alike.
        listening = fetch_error(c, f"{internal.url}/not-there.wav")
        closed = fetch_error(c, f"http://127.0.0.1:{free_port()}/not-there.wav")
        assert listening == closed == {"code": "audio_fetch_failed", "message": FETCH_FAILED}


@pytest.mark.parametrize(("address", "default", "private_allowed"), [
    ("8.8.8.8", True, True),
    ("2606:4700:4700::1111", True, True),
    ("127.0.0.1", False, True),
    ("::1", False, True),
    ("10.1.2.3", False, True),
    ("172.16.0.1", False, True),
    ("192.168.1.1", False, True),
    ("100.64.0.1", False, True),  # carrier-grade NAT
    ("fd12::1", False, True),
    ("169.254.169.254", False, False),  # link-local (cloud metadata): never by the broad switch
    ("fe80::1", False, False),
    ("0.0.0.0", False, False),
    ("::", False, False),
    ("224.0.0.251", False, False),
    ("ff02::1", False, False),
    ("240.0.0.1", False, False),  # reserved
    ("::ffff:127.0.0.1", False, True),  # IPv4-mapped
    ("::ffff:169.254.169.254", False, False),
    ("2002:7f00:1::", False, True),  # 6to4 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", False, False),  # NAT64 of 169.254.169.254
])
def test_address_policy(address: str, default: bool, private_allowed: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert AddressPolicy().allows(ip) is default
    assert AddressPolicy(allow_private=True).allows(ip) is private_allowed
    assert AddressPolicy(allowed_networks=[address]).allows(ip) is True
