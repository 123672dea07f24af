"""The result host: signed result / subtitle URLs on a different host than the API.

Like S3 presigned URLs, a request that also carries credentials is rejected; each such
attempt is counted so client tests can prove the API key never leaves the API host.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .jobs import result_json
from .problems import problem_response
from .service import FakeService
from .signing import RESULT_KINDS, SIGNED_PREFIX, signed_path, verify

_MEDIA_TYPES = {
    "result": "application/json",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


def create_result_app(service: FakeService) -> Starlette:
    config = service.config

    async def signed(request: Request) -> Response:
        counters = service.counters
        if "authorization" in request.headers or "x-api-key" in request.headers:
            counters.result_fetches_with_auth += 1
            return problem_response(
                400,
                "validation_error",
                "signed URLs must be fetched without Authorization or x-api-key headers",
            )
        kind = request.path_params["kind"]
        job_id = request.path_params["job_id"]
        if kind not in RESULT_KINDS:
            return problem_response(404, "not_found", f"unknown kind {kind!r}")
        reason = verify(
            request.url.path,
            request.query_params.get("expires"),
            request.query_params.get("sig"),
            config.signing_secret,
        )
        if reason is not None:
            counters.result_fetches_bad_signature += 1
            return problem_response(403, "forbidden", reason)
        job = service.find_any(job_id)
        outcome = job.outcome if job is not None else None
        if outcome is None or outcome.status != "completed":
            return problem_response(404, "not_found", f"no result for {job_id!r}")
        if kind == "result":
            formats = {
                fmt: service.result_base_url
                + signed_path(fmt, job_id, config.signing_secret, config.signed_url_ttl_s)
                for fmt in outcome.subtitles
            }
            body = result_json(outcome, formats)
        elif kind in outcome.subtitles:
            body = outcome.subtitles[kind]
        else:
            return problem_response(404, "not_found", f"{kind} was not requested for {job_id!r}")
        counters.result_fetches += 1
        return Response(body, media_type=_MEDIA_TYPES[kind])

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return problem_response(status, "not_found" if status == 404 else "internal_error")

    return Starlette(
        routes=[Route(SIGNED_PREFIX + "/{kind}/{job_id}", signed, methods=["GET"])],
        exception_handlers={HTTPException: http_error, Exception: http_error},
    )
