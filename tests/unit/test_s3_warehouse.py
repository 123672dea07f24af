"""The warehouse on an S3 endpoint (moto's server mode, real HTTP): loads, views, CLI, crash safety."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from callmine import object_store
from callmine.warehouse import TABLES, Warehouse, connect
from callmine.warehouse.storage import Storage
from callmine.warehouse.synthetic import make_day
from tests.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, create_bucket, s3_env, start_s3

DAYS = [dt.date(2025, 1, 30), dt.date(2025, 1, 31), dt.date(2025, 2, 1)]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory):
    server = start_s3(tmp_path_factory.mktemp("moto"))
    yield server.base_url
    server.stop()


@pytest.fixture
def bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    name = "wh-" + request.node.name.replace("_", "-")[:50].lower().rstrip("-")
    create_bucket(endpoint, name)
    for key, value in s3_env(endpoint).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    object_store._options_cache.clear()  # connections differ from test to test
    return name


def counts(uri: str) -> dict[str, int]:
    with connect(uri) as con:
        return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in TABLES}


def test_days_load_and_read_back_through_the_views(bucket: str):
    uri = f"s3://{bucket}/warehouse"
    for day in DAYS:
        Warehouse(uri).replace_calls(day, make_day(day, n_calls=3, failed=1, insights=True))
    assert counts(uri)["calls"] == 9 and counts(uri)["call_insights"] == 6


def test_reloading_a_day_on_s3_adds_no_rows(bucket: str):
    uri = f"s3://{bucket}/warehouse"
    for day in DAYS:
        Warehouse(uri).replace_calls(day, make_day(day, n_calls=3))
    before = counts(uri)
    Warehouse(uri).replace_calls(DAYS[1], make_day(DAYS[1], n_calls=3))
    assert counts(uri) == before


def test_a_load_that_dies_before_publishing_leaves_the_previous_state(bucket: str, monkeypatch):
    uri = f"s3://{bucket}/warehouse"
    Warehouse(uri).replace_calls(DAYS[0], make_day(DAYS[0], n_calls=2))
    before = counts(uri)

    def dies(self, temp, final):
        raise KeyboardInterrupt("killed before the first copy")

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(Storage, "commit", dies)
        Warehouse(uri).replace_calls(DAYS[1], make_day(DAYS[1], n_calls=5))
    assert counts(uri) == before
    assert not [p for p in Storage(uri).fs.find(f"{bucket}/warehouse") if p.endswith(".tmp")]


def test_callmine_sql_reads_an_s3_warehouse_and_prints_only_results(bucket: str):
    uri = f"s3://{bucket}/warehouse"
    Warehouse(uri).replace_calls(DAYS[0], make_day(DAYS[0], n_calls=4))
    answer = subprocess.run([str(REPO / "bin" / "callmine"), "sql", "--warehouse", uri,
                             "SELECT count(*) AS calls FROM calls"], capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.splitlines() == ["calls", "-----", "    4", "(1 row)"]  # library logs never on stdout


def test_credentials_can_come_from_the_connection_named_in_the_url(bucket: str, endpoint: str, monkeypatch):
    # The environment points nowhere: only the connection knows the endpoint.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AIRFLOW_CONN_ARCHIVE_S3", json.dumps({
        "conn_type": "aws", "login": ACCESS_KEY_ID, "password": SECRET_ACCESS_KEY,
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}))
    uri = f"s3://archive_s3@{bucket}/warehouse"
    Warehouse(uri).replace_calls(DAYS[0], make_day(DAYS[0], n_calls=2))
    assert Warehouse(uri).uri == f"s3://{bucket}/warehouse"  # the connection id is not part of any stored path
    assert counts(uri)["calls"] == 2
