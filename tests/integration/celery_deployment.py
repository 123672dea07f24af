"""The production-shaped Airflow deployment, as real processes (no Docker).

The topology of docker-compose.yaml: PostgreSQL (metadata DB, and Celery's result backend
in a database of its own), Redis (Celery broker), Airflow with the ``CeleryExecutor``:
api-server, scheduler, dag-processor, triggerer and two ``airflow celery worker``
processes with distinct names (``worker-1``, ``worker-2``) on the ``default`` queue.

PostgreSQL comes from tests/postgres_server.py, Redis from tests/redis_server.py (Debian's
packages, each in a temp dir on a free loopback port); Airflow is callmine's own
``AirflowStack`` with its ``database_url`` and ``celery`` options. Everything is stopped on
the way out, failure or not: the Airflow components by process group (a worker's task
processes too), then Redis, then PostgreSQL.

    with celery_deployment(base, extra_env={...}) as deployment:
        deployment.stack.trigger(...)

``extra_env`` reaches every Airflow component (workers and triggerer included): the place
for connections (``AIRFLOW_CONN_*``), the pipeline's ``CALLMINE_*`` settings and, for an
object-store warehouse, the standard ``AWS_*`` variables of a local S3 endpoint.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from callmine.local.stack import WORKER_PREFIX, AirflowStack, CeleryOptions
from tests.postgres_server import PostgresServer, PostgresUnavailable, start_postgres
from tests.redis_server import RedisServer, start_redis

WORKERS = ("worker-1", "worker-2")


@dataclass
class CeleryDeployment:
    stack: AirflowStack
    postgres: PostgresServer
    redis: RedisServer
    airflow_db: str  # libpq URL of the metadata database (for direct checks with psycopg)

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``query`` on the Airflow metadata DB (read-only checks)."""
        import psycopg

        with psycopg.connect(self.airflow_db, autocommit=True) as con:
            return con.execute(query, params).fetchall()

    def worker_log(self, worker: str) -> str:
        return (self.stack.home / "logs" / f"{WORKER_PREFIX}{worker}.out").read_text(errors="replace")

    def component_log(self, name: str) -> str:
        return (self.stack.home / "logs" / f"{name}.out").read_text(errors="replace")


def _unavailable(reason: str) -> None:
    """CI (root, where scripts/test.sh installs the packages) must fail; a developer without root skips."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def celery_deployment(
    base: Path, extra_env: dict[str, str] | None = None, *, workers: tuple[str, ...] = WORKERS,
    concurrency: int = 2, parallelism: int = 8, timeout: float = 240,
) -> Iterator[CeleryDeployment]:
    """Start the whole deployment under ``base``; yield it healthy (every worker answering); stop it all."""
    with contextlib.ExitStack() as cleanup:
        try:
            postgres = start_postgres(base / "postgres")
        except PostgresUnavailable as exc:
            _unavailable(f"PostgreSQL unavailable for the Celery deployment: {exc}")
        cleanup.callback(postgres.stop)
        try:
            redis = start_redis(base / "redis")
        except RuntimeError as exc:
            _unavailable(f"Redis unavailable for the Celery deployment: {exc}")
        cleanup.callback(redis.stop)

        airflow_db = postgres.create_database("airflow")
        results_db = postgres.create_database("celery_results")
        stack = AirflowStack(
            home=base / "airflow",
            extra_env=dict(extra_env or {}),
            parallelism=parallelism,
            # psycopg 3 for Airflow (as docker-compose.yaml); Celery's result backend is
            # SQLAlchemy's default PostgreSQL driver (psycopg2), in a database of its own.
            database_url=airflow_db.replace("postgresql://", "postgresql+psycopg://", 1),
            celery=CeleryOptions(broker_url=redis.url, result_backend="db+" + results_db,
                                 workers=workers, concurrency=concurrency),
        )
        cleanup.callback(stack.stop)  # registered before start: a half-started deployment is stopped too
        stack.start(timeout=timeout)
        yield CeleryDeployment(stack=stack, postgres=postgres, redis=redis, airflow_db=airflow_db)
