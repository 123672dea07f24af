"""HTTP API of the engine (PyAI Hear async jobs dialect) on plain Starlette."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .auth import SCOPES, Gate
from .config import EngineConfig
from .jobs import Engine
from .openai_audio import openai_audio_routes
from .problems import ProblemError, from_error, http_error, new_request_id, parse_limit, problem_response
from .routes import jobs_api_routes
from .results import MEDIA_TYPES, is_offloaded, job_document, splice_formats
from .signing import SIGNED_KINDS, verify
from .store import JobRow
from .submission import parse_submission

Handler = Callable[[Request], Awaitable[Response]]
JSON_TYPE = "application/json"
log = logging.getLogger("callmine.engine.api")


def _dumps(doc: object) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


INSECURE_OPEN_BANNER = (
    "\n" + "!" * 78 + "\n"
    "!! INSECURE: the engine is OPEN (no API key) on a non-loopback address ({host}).\n"
    "!! Anyone who can reach it can submit jobs and read every job and transcript.\n"
    "!! --insecure-open is for experiments only: set CALLMINE_ENGINE_API_KEYS or --api-key-file.\n"
    + "!" * 78
)


def check_exposure(config: EngineConfig) -> None:
    """SystemExit when the configuration must not start; a loud warning for --insecure-open."""
    problem = config.exposure_problem()
    if problem:
        raise SystemExit(problem)
    if config.open_mode and config.insecure_open and not config.local_open_mode:
        log.warning(INSECURE_OPEN_BANNER.format(host=config.host or "all interfaces"))


def create_app(config: EngineConfig) -> Starlette:
    check_exposure(config)
    gate = Gate(config)  # reads the key file now: an unreadable one stops the start
    authenticate = gate.authenticate
    holder: dict[str, Engine] = {}

    def engine() -> Engine:
        return holder["engine"]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        eng = Engine(config)
        await eng.start()
        holder["engine"] = eng
        app.state.engine = eng
        try:
            yield
        finally:
            await eng.stop()

    def api(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            request_id = new_request_id()
            try:
                response = await handler(request)
            except ProblemError as error:
                return _closing(request, from_error(error, request_id))
            except Exception:
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                return _closing(request, problem_response(500, "internal_error", "unexpected error",
                                                          request_id=request_id))
            response.headers["x-request-id"] = request_id
            return response

        return endpoint

    async def render(job: JobRow, status_code: int = 200, *, inline: bool = True) -> Response:
        eng = engine()
        completed = job.status == "completed"
        offloaded = completed and is_offloaded(job, config.offload_over_bytes)
        body = _dumps(job_document(job, offloaded=offloaded, link=eng.link))
        headers = {}
        if completed:
            headers["x-pyai-units"] = f"{job.audio_seconds or 0.0:.3f}"
            if inline and not offloaded:
                result = splice_formats(await eng.read_result(job.job_id, "result"), job, eng.link)
                body = body[:-1] + ',"result":' + result + "}"
        return Response(body, status_code=status_code, media_type=JSON_TYPE, headers=headers)

    @api
    async def submit_job(request: Request) -> Response:
        owner = authenticate(request)
        submission = await parse_submission(request, config)
        job, replayed = await engine().submit(owner, submission, request.headers.get("idempotency-key"))
        response = await render(job, 202)
        if replayed:
            response.headers["idempotent-replayed"] = "true"
        return response

    @api
    async def get_job(request: Request) -> Response:
        owner = authenticate(request)
        job = engine().store.get(request.path_params["job_id"], owner)
        if job is None:
            raise ProblemError(404, "not_found", f"no job {request.path_params['job_id']!r}")
        return await render(job)

    @api
    async def list_jobs(request: Request) -> Response:
        owner = authenticate(request)
        limit = parse_limit(request.query_params.get("limit"), config.list_default_limit, config.list_max_limit)
        before = _decode_cursor(request.query_params.get("cursor") or None)
        jobs, has_more = engine().store.page(owner, limit, before)
        items = [
            job_document(j, offloaded=j.status == "completed" and is_offloaded(j, config.offload_over_bytes),
                         link=engine().link)
            for j in jobs
        ]
        next_cursor = _encode_cursor(jobs[-1].seq) if has_more and jobs else None
        return Response(_dumps({"data": items, "has_more": has_more, "next_cursor": next_cursor}), media_type=JSON_TYPE)

    @api
    async def me(request: Request) -> Response:
        owner = authenticate(request)
        rate = config.rate_limit_in_force()
        body = {
            "key_id": owner,
            "env": "local",
            "scopes": list(SCOPES),
            "limits": {
                "max_upload_mb": config.max_upload_mb,
                "workers": config.workers,
                "list_max_limit": config.list_max_limit,
                "offload_over_bytes": config.offload_over_bytes,
                "max_json_bytes": config.max_json_bytes,
                "requests_per_second": rate[0] if rate else None,
                "burst": rate[1] if rate else None,
            },
            "model": config.model,
            "models": list(config.models_in_force()),
        }
        return Response(_dumps(body), media_type=JSON_TYPE)

    @api
    async def signed(request: Request) -> Response:
        kind, job_id = request.path_params["kind"], request.path_params["job_id"]
        if kind not in SIGNED_KINDS:
            raise ProblemError(404, "not_found", f"unknown kind {kind!r}")
        eng = engine()
        reason = verify(request.url.path, request.query_params.get("expires"), request.query_params.get("sig"),
                        eng.signing_secret)
        if reason is not None:
            raise ProblemError(403, "forbidden", reason)
        job = eng.store.get(job_id)
        if job is None or job.status != "completed":
            raise ProblemError(404, "not_found", f"no result for {job_id!r}")
        if kind == "result":
            body = splice_formats(await eng.read_result(job_id, "result"), job, eng.link)
        elif kind in job.formats:
            body = await eng.read_result(job_id, kind)
        else:
            raise ProblemError(404, "not_found", f"{kind} was not requested for {job_id!r}")
        return Response(body, media_type=MEDIA_TYPES[kind])

    async def health(request: Request) -> Response:
        return Response(_dumps(engine().health()), media_type=JSON_TYPE)

    app = Starlette(
        routes=[
            *jobs_api_routes(submit_job=submit_job, list_jobs=list_jobs, get_job=get_job, me=me),
            *openai_audio_routes(config),
            Route("/v1/signed/{kind}/{job_id}", signed, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: http_error},
        lifespan=lifespan,
    )
    app.state.gate = gate
    return app


def _closing(request: Request, response: Response) -> Response:
    """A refused POST may leave body bytes unread (401/429 before reading, 413 at a limit): close the
    connection after the answer rather than read and discard whatever the client keeps sending."""
    if request.method == "POST":
        response.headers["connection"] = "close"
    return response


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix != "seq":
            raise ValueError(cursor)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise ProblemError(400, "validation_error", "malformed cursor") from None
