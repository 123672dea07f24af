"""Where object-store credentials come from: the URL's connection, aws_default, or the environment."""

from __future__ import annotations

import json

import pytest

from callmine import object_store
from callmine.object_store import ObjectStoreConfigError, split_conn_id, storage_options, with_conn_id
from callmine.warehouse.storage import Storage

CONN = {"conn_type": "aws", "login": "AKIAFROMCONNECTION01", "password": "secret-from-connection",
        "extra": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"}}


@pytest.fixture(autouse=True)
def no_default_connection(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    monkeypatch.delenv("CALLMINE_AWS_CONN_ID", raising=False)
    object_store._options_cache.clear()  # each test defines its own connections


def test_conn_id_in_the_url_is_split_off():
    assert split_conn_id("s3://archive_s3@calls/2026/") == ("s3://calls/2026/", "archive_s3")
    assert split_conn_id("s3://calls/2026/") == ("s3://calls/2026/", None)
    assert split_conn_id("/data/calls") == ("/data/calls", None)


def test_local_paths_need_no_options():
    assert storage_options("/data/warehouse") == {}


def test_without_a_connection_s3_uses_the_environment(monkeypatch):
    assert storage_options("s3://calls/x") == {"use_listings_cache": False}


def test_aws_default_connection_is_used_when_defined(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(CONN))
    options = storage_options("s3://calls/x")
    assert options["key"] == "AKIAFROMCONNECTION01" and options["secret"] == "secret-from-connection"
    assert options["client_kwargs"] == {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"}


def test_connection_named_in_the_url_wins(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ARCHIVE_S3", json.dumps({**CONN, "login": "AKIAARCHIVE000000001"}))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(CONN))
    assert storage_options("s3://archive_s3@calls/x")["key"] == "AKIAARCHIVE000000001"


def test_a_missing_named_connection_is_a_clear_error_without_secrets():
    with pytest.raises(ObjectStoreConfigError, match="'nope' named in the URL is not defined"):
        storage_options("s3://nope@calls/x")


def test_storage_repr_never_shows_credentials(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(CONN))
    storage = Storage("s3://calls/warehouse")
    assert "secret-from-connection" not in repr(storage) and "AKIAFROMCONNECTION01" not in repr(storage)
    assert storage.root_url == "s3://calls/warehouse"


def test_a_recording_can_carry_its_sources_connection():
    assert with_conn_id("s3://calls/2026/11/20/a.wav", "archive_s3") == "s3://archive_s3@calls/2026/11/20/a.wav"
    assert with_conn_id("s3://calls/a.wav", None) == "s3://calls/a.wav"
    assert with_conn_id("/data/calls/a.wav", "archive_s3") == "/data/calls/a.wav"
    assert with_conn_id("s3://other@calls/a.wav", "archive_s3") == "s3://other@calls/a.wav"


def test_connection_lookups_are_remembered_for_a_few_minutes(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(CONN))
    lookups = []
    real = object_store._connection
    monkeypatch.setattr(object_store, "_connection", lambda *a: lookups.append(a) or real(*a))
    for _ in range(3):
        assert storage_options("s3://calls/x")["key"] == "AKIAFROMCONNECTION01"
    assert len(lookups) == 1
