"""LLMHook: llm_default resolves to base URL, key and model; clear errors; the key stays hidden."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from callmine.hooks.llm import MODEL_ENV, LLMConfigurationError, LLMHook, LLMSettings

KEY = "sk-hook-test-6d1f0c2a9b8e7d6c"


def set_conn(monkeypatch, conn_id="llm_default", **fields):
    doc = {"conn_type": "http", "host": "http://127.0.0.1:9876/v1", "password": KEY, "extra": {"model": "m-conn"}}
    doc.update(fields)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(doc))


@pytest.fixture(autouse=True)
def no_model_override(monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_LLM_DEFAULT", raising=False)


def test_connection_comes_from_the_airflow_conn_env_var(monkeypatch):
    set_conn(monkeypatch)
    settings = LLMHook().get_settings()
    assert (settings.base_url, settings.api_key, settings.model) == ("http://127.0.0.1:9876/v1", KEY, "m-conn")


def test_callmine_llm_model_overrides_the_connection_model(monkeypatch):
    set_conn(monkeypatch)
    monkeypatch.setenv(MODEL_ENV, "m-env")
    assert LLMHook().model == "m-env"


def test_a_missing_connection_says_how_to_configure_llm_default():
    with pytest.raises(LLMConfigurationError) as info:
        LLMHook().get_settings()
    assert "llm_default" in str(info.value) and "AIRFLOW_CONN_LLM_DEFAULT" in str(info.value)


def test_a_connection_without_a_model_is_a_clear_error(monkeypatch):
    set_conn(monkeypatch, extra={})
    with pytest.raises(LLMConfigurationError, match=f"model.*{MODEL_ENV}"):
        LLMHook().get_settings()


def test_a_uri_form_connection_rebuilds_the_base_url(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LLM_LOCAL", f"http://:{KEY}@localhost:11434/v1?model=llama3")
    settings = LLMHook("llm_local").get_settings()
    assert (settings.base_url, settings.model, settings.api_key) == ("http://localhost:11434/v1", "llama3", KEY)


def test_async_lookup_resolves_the_same_settings(monkeypatch):
    set_conn(monkeypatch)
    settings = asyncio.run(LLMHook().aget_settings())
    assert settings == LLMHook().get_settings()


def test_clients_carry_base_url_retries_and_timeout(monkeypatch):
    set_conn(monkeypatch, extra={"model": "m", "max_retries": 3, "timeout_s": 7})
    hook = LLMHook()
    aclient, client = hook.async_client(), hook.client()
    assert isinstance(aclient, openai.AsyncOpenAI) and isinstance(client, openai.OpenAI)
    for c in (aclient, client):
        assert str(c.base_url) == "http://127.0.0.1:9876/v1/" and c.max_retries == 3 and c.timeout == 7.0
    client.close()


def test_the_key_is_not_in_reprs(monkeypatch):
    set_conn(monkeypatch)
    hook = LLMHook()
    assert KEY not in repr(hook) and KEY not in repr(hook.get_settings()) and KEY not in str(hook.get_settings())


def test_redact_removes_the_key_and_masked_keys():
    settings = LLMSettings(base_url="http://x/v1", model="m", api_key=KEY)
    text = settings.redact(f"bad key {KEY}; Incorrect API key provided: sk-hoo*********6d6c.\nsee docs")
    assert KEY not in text and "6d6c" not in text and "\n" not in text
