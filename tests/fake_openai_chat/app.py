"""The HTTP surface: ``POST /v1/chat/completions`` and ``GET /v1/models``, OpenAI-shaped.

Errors use OpenAI's envelope ``{"error": {"message", "type", "param", "code"}}``;
a bad key gets 401 with the key masked the way OpenAI echoes it.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.background_server import RequestLog

from . import scripted
from .config import ChatConfig, RecordedRequest


def _error(status: int, message: str, type_: str, code: str | None = None, param: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _mask(key: str) -> str:
    return f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}" if len(key) > 8 else "***"


def strict_schema_problem(schema: Any, where: tuple[str, ...] = ()) -> str | None:
    """OpenAI's strict-mode rules: objects list every property in ``required`` and forbid extras."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        missing = [k for k in props if k not in (schema.get("required") or [])]
        if missing:
            return f"In context={where}, 'required' is required to include every key in properties. Missing {missing[0]!r}."
        if schema.get("additionalProperties") is not False:
            return f"In context={where}, 'additionalProperties' is required to be supplied and to be false."
    for key in ("properties", "$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            if problem := strict_schema_problem(sub, (*where, key, name)):
                return problem
    for key in ("items", "anyOf"):
        subs = schema.get(key)
        for sub in subs if isinstance(subs, list) else [subs]:
            if problem := strict_schema_problem(sub, (*where, key)):
                return problem
    return None


class ChatService(RequestLog[RecordedRequest]):
    """State shared by the routes: config (mutable between tests), records, in-flight gauge."""

    def __init__(self, config: ChatConfig) -> None:
        super().__init__()
        self.config = config

    def _authorized(self, request: Request) -> JSONResponse | None:
        if not self.config.api_keys:
            return None
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            return _error(401, "You didn't provide an API key. You need to provide your API key in an "
                          "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                          "invalid_request_error")
        key = header[7:].strip()
        if key not in self.config.api_keys:
            return _error(401, f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
                          "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")
        return None

    def _record(self, request: Request, status: int, body: dict[str, Any] | None, started: float) -> RecordedRequest:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("authorization", "api-key")}
        rec = RecordedRequest(request.method, request.url.path, status, headers, body, started)
        self.requests.append(rec)
        return rec

    async def models(self, request: Request) -> JSONResponse:
        started = time.time()
        if (denied := self._authorized(request)) is not None:
            self._record(request, 401, None, started)
            return denied
        self._record(request, 200, None, started)
        data = [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "fake"} for m in self.config.models]
        return JSONResponse({"object": "list", "data": data})

    async def chat(self, request: Request) -> JSONResponse:
        started = time.time()
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        rec = self._record(request, 0, body if isinstance(body, dict) else None, started)
        with self.counted_in_flight():
            response = await self._chat(request, body)
        rec.status, rec.finished_at = response.status_code, time.time()
        if response.status_code == 200:
            served = json.loads(response.body)
            rec.usage = served["usage"]
            rec.answer = served["choices"][0]["message"]["content"]
            rec.finish_reason = served["choices"][0]["finish_reason"]
        return response

    async def _chat(self, request: Request, body: Any) -> JSONResponse:
        cfg = self.config
        if (denied := self._authorized(request)) is not None:
            return denied
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(400, "We could not parse the JSON body of your request, or 'messages' is missing.",
                          "invalid_request_error")
        if cfg.rate_limit_times > 0:
            cfg.rate_limit_times -= 1
            headers = {}
            if cfg.retry_after_s is not None:
                headers = {"retry-after-ms": str(int(cfg.retry_after_s * 1000)),
                           "retry-after": str(math.ceil(cfg.retry_after_s))}
            return _error(429, f"Rate limit reached for {body.get('model')} on requests per min (RPM). "
                          "Please try again shortly.", "requests", "rate_limit_exceeded", headers=headers)
        if cfg.server_error_times > 0:
            cfg.server_error_times -= 1
            return _error(cfg.server_error_status, "The server had an error while processing your request. "
                          "Sorry about that!", "server_error")
        model = body.get("model")
        if model not in cfg.models:
            return _error(404, f"The model `{model}` does not exist or you do not have access to it.",
                          "invalid_request_error", "model_not_found")
        fmt = body.get("response_format")
        if fmt is not None:
            if not cfg.json_schema_supported:
                return _error(400, "Unrecognized request argument supplied: response_format", "invalid_request_error")
            schema = (fmt.get("json_schema") or {}) if isinstance(fmt, dict) else {}
            problem = strict_schema_problem(schema.get("schema")) if schema.get("strict") and cfg.check_strict_schema else None
            if problem:
                return _error(400, f"Invalid schema for response_format '{schema.get('name')}': {problem}",
                              "invalid_request_error", "invalid_json_schema", "response_format")
        if cfg.latency_s > 0:
            await asyncio.sleep(cfg.latency_s)
        content, finish = self._content(body)
        return JSONResponse(self._completion(body, content, finish))

    def _content(self, body: dict[str, Any]) -> tuple[str, str]:
        cfg = self.config
        content = None
        if cfg.script:
            content = cfg.script.pop(0)
        elif cfg.responder is not None:
            content = cfg.responder(body)
        if content is None:
            content = scripted.answer(body)
        if cfg.truncate_times > 0:
            cfg.truncate_times -= 1
            return content[: max(1, len(content) // 2)], "length"
        if cfg.invalid_json_times > 0:
            cfg.invalid_json_times -= 1
            return "Sure! Here is the analysis you asked for:\n{summary: " + content[:40], "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and limit > 0 and len(content) > 4 * limit:  # ~4 chars per token
            return content[: 4 * limit], "length"
        return content, "stop"

    def _completion(self, body: dict[str, Any], content: str, finish: str) -> dict[str, Any]:
        prompt_chars = sum(len(json.dumps(m.get("content"))) for m in body["messages"])
        if body.get("response_format"):
            prompt_chars += len(json.dumps(body["response_format"]))
        prompt_tokens, completion_tokens = math.ceil(prompt_chars / 4), math.ceil(len(content) / 4)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }


def create_app(service: ChatService) -> Starlette:
    return Starlette(routes=[
        Route("/v1/chat/completions", service.chat, methods=["POST"]),
        Route("/v1/models", service.models, methods=["GET"]),
    ])
