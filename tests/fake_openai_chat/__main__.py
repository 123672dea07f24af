"""``python -m tests.fake_openai_chat``: run the fake as a process (demos, benchmarks).

Example::

    python -m tests.fake_openai_chat --port 8790 --latency 2 --model gpt-4o-mini
    AIRFLOW_CONN_LLM_DEFAULT='{"conn_type":"http","host":"http://127.0.0.1:8790/v1",
        "password":"sk-fake-0123456789abcdefTESTKEY","extra":{"model":"gpt-4o-mini"}}'
"""

from __future__ import annotations

import argparse
import sys

from tests.background_server import wait_for_shutdown

from .config import DEFAULT_API_KEY, DEFAULT_MODEL, ChatConfig
from .server import FakeOpenAIChat


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fake_openai_chat", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    p.add_argument("--api-key", action="append", help=f"accepted key, repeatable (default {DEFAULT_API_KEY})")
    p.add_argument("--open", action="store_true", help="accept any request without a key")
    p.add_argument("--model", action="append", help=f"known model, repeatable (default {DEFAULT_MODEL})")
    p.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    p.add_argument("--no-json-schema", action="store_true", help="reject response_format with 400")
    args = p.parse_args(argv)
    config = ChatConfig(
        api_keys=set() if args.open else set(args.api_key or [DEFAULT_API_KEY]),
        models=args.model or [DEFAULT_MODEL],
        latency_s=args.latency,
        json_schema_supported=not args.no_json_schema,
    )
    with FakeOpenAIChat(config, host=args.host, port=args.port) as fake:
        print(f"fake openai chat listening on {fake.base_url} (models {config.models})", flush=True)
        wait_for_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
