"""Open a local path or an object-store URL (``s3://...``) as an fsspec filesystem, with credentials.

One place decides where credentials for ``warehouse_uri``, ``source_uri`` and every
recording come from, so none of them ever travels in a param, an XCom, a trigger row
or a log line. For ``s3://`` (and ``s3a://``) URLs, in this order:

1. ``s3://<conn_id>@bucket/prefix``: the Airflow connection ``<conn_id>`` (the
   ``ObjectStoragePath`` convention); it must exist.
2. ``s3://bucket/prefix``: the Airflow connection ``aws_default`` (or the one named by
   ``$CALLMINE_AWS_CONN_ID``) when it is defined;
3. otherwise the environment, as every AWS tool reads it: ``AWS_ACCESS_KEY_ID``,
   ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``,
   ``AWS_ENDPOINT_URL`` (S3-compatible stores such as MinIO or moto), or an instance role.

A connection is ``aws``-style, as the Amazon provider reads it: login = access key id,
password = secret access key, extra ``{"endpoint_url": ..., "region_name": ...,
"aws_session_token": ...}``. The ``<conn_id>@`` part is dropped from every URL callmine
builds (call ids, warehouse paths), so moving a bucket to another connection changes
nothing stored.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import fsspec
from fsspec.core import url_to_fs

log = logging.getLogger(__name__)

S3_PROTOCOLS = ("s3", "s3a")
DEFAULT_CONN_ID = "aws_default"
CONN_ID_ENV = "CALLMINE_AWS_CONN_ID"


class ObjectStoreConfigError(ValueError):
    """A URL names a connection that does not exist (message names it, never a secret)."""


def split_conn_id(uri: str) -> tuple[str, str | None]:
    """``s3://conn@bucket/key`` -> (``s3://bucket/key``, ``conn``); other URLs unchanged."""
    parts = urlsplit(uri)
    if parts.scheme not in S3_PROTOCOLS or "@" not in parts.netloc:
        return uri, None
    conn_id, _, bucket = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=bucket)), conn_id or None


def with_conn_id(uri: str, conn_id: str | None) -> str:
    """``s3://bucket/key`` -> ``s3://conn_id@bucket/key`` (a recording opened with its source's connection)."""
    parts = urlsplit(uri)
    if not conn_id or parts.scheme not in S3_PROTOCOLS or "@" in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=f"{conn_id}@{parts.netloc}"))


def storage_options(uri: str, conn_id: str | None = None) -> dict[str, Any]:
    """s3fs keyword arguments for ``uri`` (empty: local paths, or the environment's credentials)."""
    uri, named = split_conn_id(uri)
    if urlsplit(uri).scheme not in S3_PROTOCOLS:
        return {}
    wanted = named or conn_id
    # No listings cache: fsspec shares one filesystem instance per process, and a cached
    # listing would hide a month file another worker has just published.
    return {"use_listings_cache": False,
            **_connection_options(wanted or os.environ.get(CONN_ID_ENV) or DEFAULT_CONN_ID, wanted is not None)}


_OPTIONS_TTL_S = 300.0  # a rotated key is picked up within this, even by the long-lived triggerer
_options_cache: dict[tuple[str, bool], tuple[float, dict[str, Any]]] = {}


def _connection_options(conn_id: str, required: bool) -> dict[str, Any]:
    """s3fs options from the connection (empty when it is not defined), remembered a few minutes:
    a batch opens hundreds of recordings and each lookup is a round trip to Airflow."""
    now = time.monotonic()
    cached = _options_cache.get((conn_id, required))
    if cached and now - cached[0] < _OPTIONS_TTL_S:
        return cached[1]
    conn = _connection(conn_id, required)
    options = _s3_options(conn) if conn is not None else {}
    _options_cache[(conn_id, required)] = (now, options)
    return options


def filesystem(uri: str, options: dict[str, Any] | None = None,
               conn_id: str | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """``(fs, path)`` for ``uri``; ``options`` (explicit s3fs kwargs) win over any lookup."""
    clean, _ = split_conn_id(uri)
    if options is None:
        options = storage_options(uri, conn_id)
    return url_to_fs(clean, **options)


def open_file(uri: str, mode: str = "rb", conn_id: str | None = None):
    """An open fsspec file for ``uri`` (a recording, a staged result...)."""
    fs, path = filesystem(uri, conn_id=conn_id)
    return fs.open(path, mode)


def _connection(conn_id: str, required: bool) -> Any | None:
    try:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # a plain Python process without Airflow: the environment decides
        if required:
            raise ObjectStoreConfigError(f"connection {conn_id!r} named in the URL needs Airflow to look it up")
        return None
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if required:
            raise ObjectStoreConfigError(
                f"the Airflow connection {conn_id!r} named in the URL is not defined "
                f"(aws-style: login = access key id, password = secret, extra endpoint_url/region_name)"
            ) from None
        return None


def _s3_options(conn: Any) -> dict[str, Any]:
    extra = conn.extra_dejson or {}
    options: dict[str, Any] = {}
    if conn.login:
        options["key"] = conn.login
    if conn.password:
        options["secret"] = conn.password
    if token := extra.get("aws_session_token"):
        options["token"] = token
    client: dict[str, Any] = {}
    endpoint = extra.get("endpoint_url") or (extra.get("service_config") or {}).get("s3", {}).get("endpoint_url")
    if endpoint or conn.host:
        client["endpoint_url"] = endpoint or conn.host
    if region := extra.get("region_name"):
        client["region_name"] = region
    if client:
        options["client_kwargs"] = client
    return options
