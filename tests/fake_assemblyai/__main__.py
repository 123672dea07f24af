"""``python -m tests.fake_assemblyai``: run the fake as a process (demos, manual runs).

Example::

    python -m tests.fake_assemblyai --port 8790 --latency 3 --api-key my-test-key
    export AIRFLOW_CONN_ASSEMBLYAI_DEFAULT='{"conn_type": "http", "host": "http://127.0.0.1:8790", "password": "my-test-key"}'
"""

from __future__ import annotations

import argparse

from tests.background_server import wait_for_shutdown

from .config import DEFAULT_API_KEY, FakeAssemblyAIConfig
from .server import FakeAssemblyAI


def main(argv: list[str] | None = None) -> None:
    d = FakeAssemblyAIConfig()
    p = argparse.ArgumentParser(prog="python -m tests.fake_assemblyai", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    p.add_argument("--port", type=int, default=8790, help="port, 0 = any free (default %(default)s)")
    p.add_argument("--api-key", action="append", help=f"accepted key, repeatable (default {DEFAULT_API_KEY})")
    p.add_argument("--latency", type=float, default=d.latency_s, help="seconds until a job completes")
    p.add_argument("--slow-latency", type=float, default=d.slow_latency_s, help="latency of 'aai-slow' jobs")
    p.add_argument("--lines", type=int, default=d.lines, help="utterances per transcript")
    args = p.parse_args(argv)
    config = FakeAssemblyAIConfig(
        api_keys=frozenset(args.api_key or [DEFAULT_API_KEY]), latency_s=args.latency,
        slow_latency_s=args.slow_latency, lines=args.lines,
    )
    with FakeAssemblyAI(config, host=args.host, port=args.port) as fake:
        print(f"fake AssemblyAI on {fake.base_url} (keys: {len(config.api_keys)})", flush=True)
        wait_for_shutdown()


if __name__ == "__main__":
    main()
