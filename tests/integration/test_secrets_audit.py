"""Secrets audit ("Nothing lost, ever" / Secrets): no provider key is ever written down.

A real Airflow deployment runs one day with every speech provider (pyai, assemblyai,
callmissed, openai) and LLM insights, each connection holding a distinct, recognizable
fake key its fake service accepts. Then every place the pipeline writes is searched for
any of the keys (whole, truncated to its random tail, base64): every file under
AIRFLOW_HOME/logs, the metadata DB (xcom, trigger rows caught while they existed,
rendered template fields, deferral kwargs, dag_run conf, the task state store, then every
table), every Parquet file and the DuckDB catalog. What the fakes received proves each key
went to its own API host only, and never to PyAI's result / subtitle host.

The openai provider runs against the fake OpenAI-compatible audio server rather than the
embedded engine: the engine takes no key, the fake accepts only the audit key.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from callmine.local.stack import AirflowStack
from callmine.warehouse import connect
from tests.audio import write_wav
from tests.fake_assemblyai import FakeAssemblyAI, FakeAssemblyAIConfig
from tests.fake_callmissed import FakeCallMissed
from tests.fake_openai_audio import FakeOpenAIAudio
from tests.fake_openai_chat import FakeOpenAIChat
from tests.fake_pyai import FakeConfig, FakePyAIServer, KeyConfig
from tests.integration.audit_helpers import (
    ANY_KEY, AuditKeys, DbSampler, Hit, RequestTap, TappedRequest, deployment_fernet, rows,
    scan_duckdb, scan_parquet, scan_rows, scan_sqlite, scan_tree, sigterm_unwinds, table_names,
)

pytestmark = pytest.mark.integration

DAG_ID = "call_archive_mining"
DAY = "2026-11-20"
# provider -> its connection; each connection gets a key of its own, so a hit names the leak.
PROVIDER_CONNS = {"pyai": "pyai_default", "assemblyai": "assemblyai_default",
                  "callmissed": "callmissed_default", "openai": "openai_audio_default"}
KEY_PREFIXES = {"pyai_default": "pyai_live_", "assemblyai_default": "aai-", "callmissed_default": "cm-",
                "openai_audio_default": "sk-audio-", "llm_default": "sk-llm-"}
# The API host each connection's key belongs to (tap labels); everything else must never see it.
OWN_HOST = {"pyai_default": "pyai api", "assemblyai_default": "assemblyai", "callmissed_default": "callmissed",
            "openai_audio_default": "openai audio", "llm_default": "llm chat"}
TRIGGERS = {"callmine.triggers.transcription.TranscriptionJobsTrigger",
            "callmine.triggers.requests.ProviderRequestsTrigger",
            "callmine.triggers.insights.LLMInsightsTrigger"}
MAPPED_STEPS = ("submit", "wait", "stage", "analyze")


@dataclass
class Audit:
    keys: AuditKeys
    stack: AirflowStack
    home: Path
    db: Path
    fernet: Any
    warehouses: dict[str, Path]
    runs: dict[str, str]
    taps: list[TappedRequest]
    sampler: DbSampler
    fakes: dict[str, Any]


def fail_on(hits: list[Hit], scanned: str) -> None:
    assert not hits, f"{len(hits)} key leak(s) in {scanned}:\n" + "\n".join(f"  {h}" for h in hits[:40])


def tap_fakes(mp: pytest.MonkeyPatch, keys: AuditKeys, log: list[TappedRequest]) -> None:
    """Wrap each fake's ASGI app (as it is built) in a RequestTap labelled with its host."""
    import tests.fake_assemblyai.server as aai_server
    import tests.fake_callmissed.server as cm_server
    import tests.fake_openai_audio.server as audio_server
    import tests.fake_openai_chat.server as chat_server
    import tests.fake_pyai.server as pyai_server

    def tapped(module: Any, name: str, host: str) -> None:
        build = getattr(module, name)
        mp.setattr(module, name, lambda service: RequestTap(build(service), host, keys, log))

    tapped(pyai_server, "create_api_app", "pyai api")
    tapped(pyai_server, "create_result_app", "pyai result")  # signed result_url and subtitle URLs
    tapped(aai_server, "create_app", "assemblyai")
    tapped(cm_server, "create_app", "callmissed")
    tapped(audio_server, "create_app", "openai audio")
    tapped(chat_server, "create_app", "llm chat")


def make_recordings(folder: Path, seed: int) -> Path:
    """A short stereo and a short mono call dated DAY: one batch of 2."""
    day = folder / DAY.replace("-", "/")
    write_wav(day / "stereo.wav", seconds=8, channels=2, seed=seed)
    write_wav(day / "mono.wav", seconds=6, channels=1, seed=seed + 1)
    return folder


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    keys = AuditKeys(KEY_PREFIXES)
    base = tmp_path_factory.mktemp("secrets-audit")
    taps: list[TappedRequest] = []
    with sigterm_unwinds(), contextlib.ExitStack() as running:
        with pytest.MonkeyPatch.context() as mp:  # only while the fakes build their apps
            tap_fakes(mp, keys, taps)
            # Each fake accepts only its audit key; latencies keep every trigger alive for seconds.
            pyai = running.enter_context(FakePyAIServer(FakeConfig(
                keys={keys["pyai_default"]: KeyConfig(env="live")}, latency_s=4.0, offload_over_bytes=0,
                requests_per_second=200, burst=400)))
            aai = running.enter_context(FakeAssemblyAI(FakeAssemblyAIConfig(
                api_keys=frozenset({keys["assemblyai_default"]}), latency_s=4.0)))
            cm = running.enter_context(FakeCallMissed(api_keys={keys["callmissed_default"]}, latency_s=3.0))
            audio = running.enter_context(FakeOpenAIAudio(api_keys={keys["openai_audio_default"]}, latency_s=3.0))
            chat = running.enter_context(FakeOpenAIChat(api_keys={keys["llm_default"]}, latency_s=2.0))
        conns = {
            "PYAI_DEFAULT": {"conn_type": "http", "host": pyai.base_url, "password": keys["pyai_default"]},
            "ASSEMBLYAI_DEFAULT": {"conn_type": "http", "host": aai.base_url,
                                   "password": keys["assemblyai_default"]},
            "CALLMISSED_DEFAULT": {"conn_type": "http", "host": cm.base_url,
                                   "password": keys["callmissed_default"]},
            "OPENAI_AUDIO_DEFAULT": {"conn_type": "http", "host": audio.base_url,
                                     "password": keys["openai_audio_default"], "extra": {"model": "whisper-1"}},
            "LLM_DEFAULT": {"conn_type": "http", "host": chat.base_url, "password": keys["llm_default"],
                            "extra": {"model": chat.default_model}},
        }
        home = base / "airflow"
        # The scheduler's own run of the latest interval (default params) stays in scratch folders too.
        (base / "recordings" / "scheduled").mkdir(parents=True)
        stack = AirflowStack(home=home, extra_env={
            **{f"AIRFLOW_CONN_{name}": json.dumps(conn) for name, conn in conns.items()},
            "CALLMINE_SOURCE_URI": str(base / "recordings" / "scheduled"),
            "CALLMINE_WAREHOUSE_URI": str(base / "warehouse" / "scheduled"),
            "CALLMINE_BATCH_SIZE": "2",
            "CALLMINE_LLM_CONCURRENCY": "2",
        })
        stack.start()
        try:
            db = home / "airflow.db"
            sampler = DbSampler(db, {
                "trigger": "SELECT id, classpath, kwargs FROM trigger",
                "next_kwargs": "SELECT dag_id, run_id, task_id, map_index, try_number, next_method, next_kwargs "
                               "FROM task_instance WHERE next_kwargs IS NOT NULL",
                **({"task_state_store": "SELECT * FROM task_state_store"}
                   if "task_state_store" in table_names(db) else {}),
            }).start()
            try:
                stack.wait_dag(DAG_ID)
                stack.unpause(DAG_ID)
                warehouses, runs = {}, {}
                for n, provider in enumerate(PROVIDER_CONNS, start=1):
                    source = make_recordings(base / "recordings" / provider, seed=10 * n)
                    warehouses[provider] = base / "warehouse" / provider
                    conf = {"provider": provider, "insights": "llm", "batch_size": 2,
                            "source_uri": str(source), "warehouse_uri": str(warehouses[provider])}
                    runs[provider] = stack.trigger(DAG_ID, f"{DAY}T00:00:{n:02d}Z", conf)
                for provider, run_id in runs.items():
                    state = stack.wait_run(DAG_ID, run_id, timeout=900)
                    assert state == "success", f"{provider} run {state}\n{stack.logs_tail()}"
            finally:
                sampler.stop()
            yield Audit(keys=keys, stack=stack, home=home, db=db, fernet=deployment_fernet(home, stack.env()),
                        warehouses=warehouses, runs=runs, taps=taps, sampler=sampler,
                        fakes={"pyai": pyai, "assemblyai": aai, "callmissed": cm, "openai": audio, "llm": chat})
        finally:
            stack.stop()


# -- the scanners work -----------------------------------------------------------------------


def _plant_log_file(keys: AuditKeys, tmp: Path) -> list[Hit]:
    (tmp / "logs" / "dag_id=x" / "run_id=y").mkdir(parents=True)
    (tmp / "logs" / "dag_id=x" / "run_id=y" / "attempt=1.log").write_text(
        f'{{"event": "POST /v1/jobs", "headers": {{"Authorization": "Bearer {keys["pyai_default"]}"}}}}\n')
    (tmp / "logs" / "clean.log").write_text("nothing to see\n")
    return scan_tree(keys, tmp / "logs")[1]


def _plant_truncated_key(keys: AuditKeys, tmp: Path) -> list[Hit]:
    tail = keys["assemblyai_default"].rsplit("_", 1)[1]
    (tmp / "masked.log").write_text(f"Incorrect API key provided: aai-***{tail}\n")
    return scan_tree(keys, tmp)[1]


def _plant_base64_key(keys: AuditKeys, tmp: Path) -> list[Hit]:
    (tmp / "basic.log").write_bytes(b"Authorization: Basic " + base64.b64encode(keys["callmissed_default"].encode()))
    return scan_tree(keys, tmp)[1]


def _plant_parquet_value(keys: AuditKeys, tmp: Path) -> list[Hit]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"call_id": ["c1"] * 50,
                      "meta": [{"note": "x" * i + keys["openai_audio_default"]} for i in range(50)]})
    pq.write_table(table, tmp / "part-0.parquet", compression="zstd")
    return scan_parquet(keys, tmp / "part-0.parquet")


def _plant_duckdb_view(keys: AuditKeys, tmp: Path) -> list[Hit]:
    import duckdb

    path = tmp / "callmine.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE VIEW calls AS SELECT '{keys['llm_default']}' AS secret")
    return scan_duckdb(keys, path)


def _plant_sqlite_cells(keys: AuditKeys, tmp: Path) -> list[Hit]:
    import zlib

    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    (tmp / "airflow.cfg").write_text(f"[core]\nfernet_key = {key}\n")
    fernet = deployment_fernet(tmp, {})
    db = tmp / "airflow.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE trigger (id INTEGER PRIMARY KEY, classpath TEXT, kwargs TEXT)")
        con.execute("CREATE TABLE xcom (key TEXT, value BLOB)")
        token = fernet.encrypt(json.dumps({"api_key": keys["pyai_default"]}).encode()).decode()
        con.execute("INSERT INTO trigger (classpath, kwargs) VALUES ('t.T', ?)", (token,))
        con.execute("INSERT INTO xcom VALUES ('return_value', ?)", (zlib.compress(keys["llm_default"].encode()),))
    counts, hits = scan_sqlite(keys, db, fernet)
    assert counts == {"trigger": 1, "xcom": 1}
    assert {h.where.split(" ")[0] for h in hits} == {"trigger.kwargs", "xcom.value"}
    return hits


def _plant_request_header(keys: AuditKeys, tmp: Path) -> list[Hit]:
    import asyncio

    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    log: list[TappedRequest] = []
    app = Starlette(routes=[Route("/r", lambda request: PlainTextResponse("ok"), methods=["GET", "POST"])])

    async def send() -> None:
        transport = httpx.ASGITransport(app=RequestTap(app, "result", keys, log))
        async with httpx.AsyncClient(transport=transport, base_url="http://result") as client:
            await client.get("/r", headers={"x-api-key": keys["pyai_default"]})
            await client.post("/r", content=b"form " + keys["llm_default"].encode())

    asyncio.run(send())
    return [Hit(f"{r.method} {r.path}", conn) for r in log for conn in request_keys(keys, r) | r.body_found]


PLANTS = {
    "log-file": (_plant_log_file, {"pyai_default"}),
    "truncated-key": (_plant_truncated_key, {"assemblyai_default"}),
    "base64-key": (_plant_base64_key, {"callmissed_default"}),
    "zstd-parquet-nested-value": (_plant_parquet_value, {"openai_audio_default"}),
    "duckdb-view-sql": (_plant_duckdb_view, {"llm_default"}),
    "sqlite-encrypted-and-compressed-cells": (_plant_sqlite_cells, {"pyai_default", "llm_default"}),
    "request-header-and-body": (_plant_request_header, {"pyai_default", "llm_default"}),
}


@pytest.mark.parametrize("plant", PLANTS)
def test_scanner_finds_a_planted_key(plant, tmp_path):
    keys = AuditKeys(KEY_PREFIXES)
    planter, expected = PLANTS[plant]
    hits = planter(keys, tmp_path)
    assert {h.conn_id for h in hits} == expected, hits


def test_scanner_finds_nothing_in_clean_data_or_in_other_keys(tmp_path):
    keys, other = AuditKeys(KEY_PREFIXES), AuditKeys({"pyai_default": "pyai_live_"})
    (tmp_path / "a.log").write_text("Bearer pyai_live_other_key 0123456789abcdef\n")
    assert scan_tree(keys, tmp_path)[1] == []
    # A different key of the same shape only matches on the shared marker, named as such.
    assert keys.found_in(other["pyai_default"]) == {ANY_KEY}


def test_scanner_finds_keys_planted_in_a_copy_of_the_deployment_db(audit, tmp_path):
    """On Airflow's real schema and Fernet key: a leak in an xcom value or trigger kwargs is seen."""
    copy = tmp_path / "airflow.db"
    with sqlite3.connect(f"file:{audit.db}?mode=ro", uri=True) as live, sqlite3.connect(copy) as out:
        live.backup(out)
    with sqlite3.connect(copy) as con:
        con.execute("UPDATE xcom SET value = ? WHERE rowid = (SELECT min(rowid) FROM xcom)",
                    (json.dumps({"headers": {"authorization": audit.keys["assemblyai_default"]}}),))
        kwargs = json.dumps({"conn_id": "llm_default", "api_key": audit.keys["llm_default"]}).encode()
        stored = audit.fernet.encrypt(kwargs).decode() if audit.fernet else kwargs.decode()
        con.execute("INSERT INTO trigger (classpath, kwargs, created_date) VALUES ('x.Leaky', ?, '2026-11-20')",
                    (stored,))
    _, hits = scan_sqlite(audit.keys, copy, audit.fernet)
    assert {(h.where.split(" ")[0], h.conn_id) for h in hits} == {
        ("xcom.value", "assemblyai_default"), ("trigger.kwargs", "llm_default")}, hits


# -- the run used every key, and sent each only where it belongs -------------------------------


def request_keys(keys: AuditKeys, request: TappedRequest) -> set[str]:
    """Connections whose key is anywhere in the request line or headers."""
    text = "\n".join([request.path, request.query, *(f"{k}: {v}" for k, v in request.headers)])
    return keys.found_in(text)


def test_every_provider_connection_and_llm_default_was_used_with_its_key(audit):
    for conn_id, host in OWN_HOST.items():
        sent = [r for r in audit.taps if r.host == host and conn_id in request_keys(audit.keys, r)]
        assert sent, f"{conn_id}: its key never reached {host}: the run did not use the connection"
    fakes = audit.fakes
    pyai = fakes["pyai"].stats()
    assert pyai["jobs_created"] >= 2 and pyai["unauthorized"] == 0
    assert fakes["assemblyai"].stats()["transcripts_created"] >= 2
    assert sum(r.authorized and r.status == 200 for r in fakes["callmissed"].requests) >= 2
    assert sum(r.authorized and r.status == 200 for r in fakes["openai"].requests) >= 2
    assert len(fakes["llm"].chat_requests) >= 6  # 2 calls each of pyai, assemblyai, openai
    for provider, warehouse in audit.warehouses.items():
        with connect(str(warehouse)) as con:
            calls = con.execute("SELECT status, provider FROM calls").fetchall()
            analyzers = {a for (a,) in con.execute("SELECT DISTINCT analyzer FROM call_insights").fetchall()}
        assert calls == [("completed", provider)] * 2, provider
        assert analyzers == ({"callmissed"} if provider == "callmissed" else {"llm"}), provider


def test_each_key_reaches_only_its_own_api_host_and_never_a_url_or_body(audit):
    leaks = []
    for r in audit.taps:
        url = f"{r.path}?{r.query}"
        for conn_id in sorted(audit.keys.found_in(url)):
            leaks.append(f"{conn_id} key in the URL of {r.method} {r.host} {r.path}")
        for conn_id in sorted(request_keys(audit.keys, r)):
            if OWN_HOST.get(conn_id) != r.host:
                leaks.append(f"{conn_id} key sent to {r.host}: {r.method} {r.path}")
        for conn_id in sorted(r.body_found):
            leaks.append(f"{conn_id} key in the body of {r.method} {r.host} {r.path}")
    assert not leaks, "\n".join(leaks)


def test_keys_never_reach_result_or_subtitle_hosts(audit):
    fetched = [r for r in audit.taps if r.host == "pyai result"]
    kinds = {r.path.split("/")[-2] for r in fetched}
    assert {"result", "srt", "vtt"} <= kinds, f"the result host served only {kinds}: nothing was offloaded"
    for r in fetched:
        names = {name for name, _ in r.headers}
        assert not names & {"authorization", "x-api-key", "api-key", "proxy-authorization"}, (r.path, names)
        assert not request_keys(audit.keys, r) and not r.body_found, r.path
    stats = audit.fakes["pyai"].stats()
    assert stats["result_fetches_with_auth"] == 0
    assert stats["result_fetches"] >= len(fetched) > 0
    # AssemblyAI's subtitles come from its API host (with the key, by design); its upload
    # URLs stand in for a CDN: fetched at all, then without a key.
    for r in audit.taps:
        if r.host == "assemblyai" and r.path.startswith("/upload/"):
            assert not request_keys(audit.keys, r), r.path


# -- logs ------------------------------------------------------------------------------------


def test_no_key_in_any_log_file(audit):
    files, hits = scan_tree(audit.keys, audit.home / "logs")
    names = [str(p.relative_to(audit.home / "logs")) for p in files]
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert f"{component}.out" in names, component
    for step in (*MAPPED_STEPS, "discover", "load"):
        assert any(f"task_id={step}/" in n for n in names), f"no task log of {step}"
    # a trigger log per wait (4 providers) and per llm analysis (callmissed analyzes its own calls)
    assert sum(".log.trigger." in n for n in names) >= len(PROVIDER_CONNS) + 3
    fail_on(hits, f"{len(files)} files under {audit.home / 'logs'}")


# -- the metadata database ---------------------------------------------------------------------


def test_no_key_in_xcom(audit):
    found = rows(audit.db, "xcom")
    steps = {r["task_id"] for r in found}
    assert {*MAPPED_STEPS, "discover", "load"} <= steps, steps
    fail_on(scan_rows(audit.keys, "xcom", found, audit.fernet), f"{len(found)} xcom rows")


def trigger_kwargs(audit: Audit, row: dict[str, Any]) -> dict[str, Any]:
    """A trigger row's kwargs as Airflow reads them (``Trigger._decrypt_kwargs``).

    Airflow 3.3 keeps the kwargs a worker defers with as plaintext JSON (its execution API
    stores the dict as sent; only kwargs sent as a string are taken as encrypted), although
    the deployment has a Fernet key: whatever a trigger takes as an argument is readable
    in the database, so no key may ever be one.
    """
    stored = row["kwargs"]
    if stored.startswith("{"):  # plaintext (what 3.3 stores), read as Airflow does
        return json.loads(stored)
    assert audit.fernet is not None, "trigger kwargs are encrypted but the deployment has no Fernet key"
    return json.loads(audit.fernet.decrypt(stored.encode()))


def test_no_key_in_trigger_rows(audit):
    sampled = audit.sampler.rows("trigger") + rows(audit.db, "trigger")
    assert TRIGGERS <= {r["classpath"] for r in sampled}, (
        f"triggers seen in flight: {sorted({r['classpath'] for r in sampled})} ({audit.sampler.rounds} rounds)")
    plain = [{"classpath": r["classpath"], "kwargs": trigger_kwargs(audit, r)} for r in sampled]
    assert all("conn_id" in p["kwargs"] for p in plain if "insights" in p["classpath"])
    hits = scan_rows(audit.keys, "trigger", sampled, audit.fernet)
    hits += scan_rows(audit.keys, "trigger (decrypted kwargs)", plain)
    fail_on(hits, f"{len(sampled)} trigger rows")


def test_no_key_in_rendered_fields(audit):
    found = rows(audit.db, "rendered_task_instance_fields")
    assert set(MAPPED_STEPS) <= {r["task_id"] for r in found}
    assert all(json.loads(r["rendered_fields"]) for r in found if r["task_id"] in MAPPED_STEPS)
    fail_on(scan_rows(audit.keys, "rendered_task_instance_fields", found, audit.fernet),
            f"{len(found)} rendered field rows")


def test_no_key_in_deferral_kwargs_or_task_instances(audit):
    sampled = audit.sampler.rows("next_kwargs")
    assert {"wait", "analyze"} <= {r["task_id"] for r in sampled}, "no deferred wait / analyze seen"
    hits = scan_rows(audit.keys, "task_instance.next_kwargs (in flight)", sampled, audit.fernet)
    for table in ("task_instance", "task_instance_history"):
        if table in table_names(audit.db):
            hits += scan_rows(audit.keys, table, rows(audit.db, table), audit.fernet)
    fail_on(hits, "task instances and their deferral kwargs")


def test_no_key_in_dag_run_conf(audit):
    found = rows(audit.db, "dag_run", where=f"dag_id = '{DAG_ID}'")
    assert {r["run_id"] for r in found} >= set(audit.runs.values())
    fail_on(scan_rows(audit.keys, "dag_run", found, audit.fernet), f"{len(found)} dag runs")


def test_no_key_in_task_state_store(audit):
    tables = table_names(audit.db)
    stores = [t for t in tables if "state" in t and "store" in t]
    assert "task_state_store" in stores, tables
    hits: list[Hit] = []
    for table in stores:
        hits += scan_rows(audit.keys, table, rows(audit.db, table), audit.fernet)
    sampled = audit.sampler.rows("task_state_store")
    assert sampled, "the submit steps stored no state"
    hits += scan_rows(audit.keys, "task_state_store (in flight)", sampled, audit.fernet)
    fail_on(hits, f"{', '.join(stores)}")


def test_no_key_in_any_metadata_table(audit):
    counts, hits = scan_sqlite(audit.keys, audit.db, audit.fernet)
    assert counts["xcom"] and counts["task_instance"] and counts["serialized_dag"], counts
    fail_on(hits, f"{len(counts)} tables, {sum(counts.values())} rows of {audit.db}")


def test_no_key_in_any_file_under_airflow_home(audit):
    """Raw bytes: airflow.cfg, the DB file itself (freed pages of deleted trigger rows too), logs."""
    files, hits = scan_tree(audit.keys, audit.home)
    assert audit.db in files
    fail_on(hits, f"{len(files)} files under {audit.home}")


# -- the warehouse -----------------------------------------------------------------------------


def test_no_key_in_parquet_or_catalog(audit):
    root = audit.warehouses["pyai"].parent
    files, hits = scan_tree(audit.keys, root)
    for provider, warehouse in audit.warehouses.items():
        mine = [p.relative_to(warehouse).parts[0] for p in files if warehouse in p.parents and p.suffix == ".parquet"]
        assert {"calls", "segments", "words", "speaker_metrics", "call_insights"} <= set(mine), (provider, mine)
        assert warehouse / "callmine.duckdb" in files, provider
    fail_on(hits, f"{len(files)} warehouse files ({sum(p.suffix == '.parquet' for p in files)} Parquet)")
