"""The fake's HTTP surface (Starlette): AssemblyAI v2 async transcription endpoints.

Auth is the bare ``authorization: <key>`` header; errors are ``{"error": "..."}``.
``GET /upload/{id}`` stands in for AssemblyAI's CDN upload URLs (no key needed here).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .service import ApiError, FakeAssemblyAIService

Handler = Callable[[Request], Awaitable[Response]]


def _error(exc: ApiError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=exc.headers)


def _int_param(request: Request, name: str, default: int | None, *, low: int = 1, high: int = 200) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}")
    return value


def create_app(service: FakeAssemblyAIService) -> Starlette:
    def api(route: str, handler: Callable[[Request], Awaitable[Any]]) -> Handler:
        """Count, fault-inject and authenticate, then run ``handler``; errors as ``{"error"}``."""

        async def endpoint(request: Request) -> Response:
            try:
                service.admit(route, request.headers.get("authorization"))
                result = await handler(request)
            except ApiError as exc:
                return _error(exc)
            return result if isinstance(result, Response) else JSONResponse(result)

        return endpoint

    def base(request: Request) -> str:
        return str(request.base_url)

    async def upload(request: Request) -> Any:
        return {"upload_url": service.upload(await request.body(), base(request))}

    async def create(request: Request) -> Any:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            raise ApiError(400, "Request body is not valid JSON") from None
        return service.create(body, base(request))

    async def get(request: Request) -> Any:
        return service.view(service.get(request.path_params["id"]))

    async def delete(request: Request) -> Any:
        return service.delete(request.path_params["id"])

    async def listing(request: Request) -> Any:
        return service.listing(
            limit=_int_param(request, "limit", 10) or 10,
            before_id=request.query_params.get("before_id") or None,
            after_id=request.query_params.get("after_id") or None,
            status=request.query_params.get("status") or None,
            base_url=base(request),
        )

    def subtitles(fmt: str) -> Callable[[Request], Awaitable[Any]]:
        async def handler(request: Request) -> Any:
            chars = _int_param(request, "chars_per_caption", None, high=10_000)
            text = service.subtitles(request.path_params["id"], fmt, chars)
            return PlainTextResponse(text)

        return handler

    async def download(request: Request) -> Response:
        data = service.uploaded(request.path_params["id"])
        if data is None:
            return PlainTextResponse("Not Found", status_code=404)
        return Response(data, media_type="application/octet-stream")

    return Starlette(routes=[
        Route("/v2/upload", api("POST /v2/upload", upload), methods=["POST"]),
        Route("/v2/transcript", api("POST /v2/transcript", create), methods=["POST"]),
        Route("/v2/transcript", api("GET /v2/transcript", listing), methods=["GET"]),
        Route("/v2/transcript/{id}", api("GET /v2/transcript/{id}", get), methods=["GET"]),
        Route("/v2/transcript/{id}", api("DELETE /v2/transcript/{id}", delete), methods=["DELETE"]),
        Route("/v2/transcript/{id}/srt", api("GET /v2/transcript/{id}/srt", subtitles("srt")), methods=["GET"]),
        Route("/v2/transcript/{id}/vtt", api("GET /v2/transcript/{id}/vtt", subtitles("vtt")), methods=["GET"]),
        Route("/upload/{id}", download, methods=["GET"]),
    ])
