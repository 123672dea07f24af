"""The paths of the PyAI Hear jobs dialect, in one place for every server that speaks it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]


def jobs_api_routes(*, submit_job: Endpoint, list_jobs: Endpoint, get_job: Endpoint, me: Endpoint) -> list[Route]:
    return [
        Route("/v1/transcription/jobs", submit_job, methods=["POST"]),
        Route("/v1/transcription/jobs", list_jobs, methods=["GET"]),
        Route("/v1/transcription/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/v1/me", me, methods=["GET"]),
    ]
