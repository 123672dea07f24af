"""The engine's routes of the PyAI Hear jobs dialect (paths from callmine.dialects.pyai_hear, shared with the client)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callmine.dialects.pyai_hear import JOB_PATH, JOBS_PATH, ME_PATH

Endpoint = Callable[[Request], Awaitable[Response]]


def jobs_api_routes(*, submit_job: Endpoint, list_jobs: Endpoint, get_job: Endpoint, me: Endpoint) -> list[Route]:
    return [
        Route(JOBS_PATH, submit_job, methods=["POST"]),
        Route(JOBS_PATH, list_jobs, methods=["GET"]),
        Route(JOB_PATH, get_job, methods=["GET"]),
        Route(ME_PATH, me, methods=["GET"]),
    ]
