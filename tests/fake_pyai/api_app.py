"""The API listener: /v1/transcription/jobs, /v1/me, and /_fake test introspection.

Plain Starlette rather than FastAPI: no model validation layer (we must emit the
vendor's problem+json, not 422s) and less per-request overhead for 1,000+ pollers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .auth import Principal, authenticate, require_scopes
from .config import SCOPE_JOBS, SCOPE_TRANSCRIBE
from .faults import drop_connection
from .jobs import Job, dumps, job_document, result_json
from .problems import ProblemError, from_error, http_error, new_request_id, parse_limit
from .service import Counters, FakeService
from .signing import signed_path
from .submission import parse_submission

Handler = Callable[[Request], Awaitable[Response]]
JSON_TYPE = "application/json"

# The contract's routes (base URL https://api.pyai.com).
JOBS_PATH = "/v1/transcription/jobs"
JOB_PATH = JOBS_PATH + "/{job_id}"
ME_PATH = "/v1/me"


def create_api_app(service: FakeService) -> Starlette:
    config = service.config

    def counters() -> Counters:
        return service.counters  # looked up each time: reset() replaces the object

    def api(handler: Handler) -> Handler:
        """Problem rendering, request ids, and the injected faults for every API call."""
        route = handler.__name__

        async def endpoint(request: Request) -> Response:
            counters().requests += 1
            number = counters().requests
            request_id = new_request_id()
            fault = service.faults.draw(config, route)
            if fault == "429":
                retry_after = {"Retry-After": str(config.fault_retry_after_s)}
                return from_error(ProblemError(429, "rate_limited", "injected fault: slow down", retry_after), request_id)
            if fault == "5xx":
                status, code, detail = service.faults.server_error()
                return from_error(ProblemError(status, code, detail), request_id)
            try:
                response = await handler(request)
                response.headers["x-request-id"] = request_id
            except ProblemError as error:
                response = from_error(error, request_id)
            if fault == "drop":  # the work is done (a job exists), the answer never arrives
                await drop_connection(request)
                return response
            if fault == "slow":  # the work is done, the answer comes after the client gave up
                await asyncio.sleep(config.fault_slow_s)
                return response
            every = config.slow_response_every_n
            if every and number % every == 0:
                # Sleep *after* the work is done: a client that times out on a submit
                # must then rely on its Idempotency-Key, exactly as in production.
                counters().slow_responses_injected += 1
                await asyncio.sleep(config.slow_response_s)
            return response

        return endpoint

    def admit(request: Request, *scopes: str) -> Principal:
        try:
            principal = authenticate(request, config)
        except ProblemError:
            counters().unauthorized += 1
            raise
        rps, burst = config.limits_for(principal.key)
        retry_after = service.rate_limiter.check(principal.key_id, rps, burst)
        if retry_after is not None:
            counters().rate_limited += 1
            raise ProblemError(429, "rate_limited", "per-key rate limit exceeded", {"Retry-After": str(retry_after)})
        try:
            require_scopes(principal, *scopes)
        except ProblemError:
            counters().forbidden += 1
            raise
        return principal

    def link(kind: str, job_id: str) -> str:
        return service.result_base_url + signed_path(kind, job_id, config.signing_secret, config.signed_url_ttl_s)

    def render_job(job: Job, status: str, status_code: int = 200, *, inline_result: bool = True) -> Response:
        outcome = job.outcome
        completed = status == "completed" and outcome is not None
        result_url = link("result", job.job_id) if completed and outcome.offloaded else None
        body = dumps(job_document(job, status, config, result_url=result_url))
        headers = {}
        if completed:
            headers["x-pyai-units"] = f"{outcome.audio_seconds:.2f}"
            if inline_result and not outcome.offloaded:
                formats = {kind: link(kind, job.job_id) for kind in outcome.subtitles}
                body = body[:-1] + ',"result":' + result_json(outcome, formats) + "}"
        return Response(body, status_code=status_code, media_type=JSON_TYPE, headers=headers)

    @api
    async def submit_job(request: Request) -> Response:
        principal = admit(request, SCOPE_TRANSCRIBE, SCOPE_JOBS)
        if principal.key is not None and principal.key.state == "credit_exhausted":
            counters().credit_exhausted += 1
            raise ProblemError(402, "credit_exhausted", "no transcription credit left on this account")
        submission = await parse_submission(request)
        job, replayed = service.submit(principal.key_id, submission, request.headers.get("idempotency-key"))
        response = render_job(job, await service.status(job), 202)
        if replayed:
            response.headers["idempotent-replayed"] = "true"
        return response

    @api
    async def get_job(request: Request) -> Response:
        principal = admit(request, SCOPE_JOBS)
        counters().job_gets += 1
        every = config.fail_every_n_get
        if every and counters().job_gets % every == 0:
            counters().server_errors_injected += 1
            raise ProblemError(503, "service_unavailable", "injected fault: try again")
        job = service.find(principal.key_id, request.path_params["job_id"])
        return render_job(job, await service.status(job))

    @api
    async def list_jobs(request: Request) -> Response:
        principal = admit(request, SCOPE_JOBS)
        limit = parse_limit(request.query_params.get("limit"), config.list_default_limit, config.list_max_limit)
        jobs, next_cursor = service.page(principal.key_id, limit, request.query_params.get("cursor") or None)
        statuses = await asyncio.gather(*(service.status(job) for job in jobs))
        # Listing shows job summaries; the inline result is only on GET /jobs/{id}.
        items = [
            job_document(
                job,
                status,
                config,
                result_url=link("result", job.job_id) if job.outcome and job.outcome.offloaded else None,
            )
            for job, status in zip(jobs, statuses, strict=True)
        ]
        body = {"data": items, "has_more": next_cursor is not None, "next_cursor": next_cursor}
        return Response(dumps(body), media_type=JSON_TYPE)

    @api
    async def me(request: Request) -> Response:
        principal = admit(request)
        rps, burst = config.limits_for(principal.key)
        exhausted = principal.key is not None and principal.key.state == "credit_exhausted"
        body = {
            "key_id": principal.key_id,
            "env": principal.key.env if principal.key is not None else "test",
            "scopes": list(principal.scopes),
            "limits": {"requests_per_second": rps, "burst": burst},
            "credit": {"state": "exhausted" if exhausted else "ok", "remaining_seconds": 0.0 if exhausted else 360000.0},
        }
        return Response(dumps(body), media_type=JSON_TYPE)

    async def fake_stats(request: Request) -> Response:
        return JSONResponse(await service.stats())

    async def fake_job_counts(request: Request) -> Response:
        return JSONResponse(service.job_counts())

    async def fake_reset(request: Request) -> Response:
        service.reset()
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route(JOBS_PATH, submit_job, methods=["POST"]),
            Route(JOBS_PATH, list_jobs, methods=["GET"]),
            Route(JOB_PATH, get_job, methods=["GET"]),
            Route(ME_PATH, me, methods=["GET"]),
            Route("/_fake/stats", fake_stats, methods=["GET"]),
            Route("/_fake/job-counts", fake_job_counts, methods=["GET"]),
            Route("/_fake/reset", fake_reset, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: http_error},
    )
